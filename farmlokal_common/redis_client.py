"""The Redis client every service shares: bytes in and out (pybreaker needs that), short timeouts, no retries."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from farmlokal_common.settings import ServiceSettings


def make_redis(settings: ServiceSettings) -> redis.Redis:
    """hiredis parses replies when installed; timeouts keep a dead Redis from stalling RPCs."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
        health_check_interval=15,
        max_connections=settings.thread_pool_size * 2,
        # redis-py 8 retries failed commands by default: about 3 s per command on a dead Redis,
        # which every fail-open path (cache, rate limiter) would pay per request.
        retry=Retry(NoBackoff(), 0),
    )


def ping(client: redis.Redis) -> None:
    """A dependency check: raises when Redis does not answer."""
    client.ping()
