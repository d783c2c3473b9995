"""The one factory of every Redis client the services use: one server, or the master a Sentinel names.

Bytes in and out (pybreaker needs that), short timeouts, no retries. With Sentinel (`*_REDIS_SENTINELS`
and `*_REDIS_MASTER_NAME`, or a `redis+sentinel://[:PASSWORD@]HOST:PORT,HOST:PORT/MASTER/DB` URL) the
client asks the Sentinels for the master whenever it opens a connection, and a connection to a master
that went away or was demoted fails once and reconnects to the one the Sentinels promoted: a failover
is followed without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from farmlokal_common.settings import ServiceSettings

SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class RedisTarget:
    """Where the Redis is: `url` alone, or the Sentinels that know the master `master_name`."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str = ""
    password: str | None = None
    db: int = 0

    @classmethod
    def of(cls, url: str, sentinels: str = "", master_name: str = "") -> RedisTarget:
        """From a URL (redis:// or redis+sentinel://) and the optional Sentinel settings, which win."""
        parts = urlsplit(url)
        password = unquote(parts.password) if parts.password else None
        if parts.scheme == SENTINEL_SCHEME:
            hosts, _, path = url.split("://", 1)[1].rpartition("@")[2].partition("/")
            name, _, number = path.partition("/")
            return cls(url, parse_hosts(sentinels or hosts), master_name or name, password, int(number or 0))
        path = parts.path.strip("/")
        db = int(path) if path.isdigit() else 0
        if sentinels.strip():
            if not master_name:
                raise ValueError("REDIS_SENTINELS is set but REDIS_MASTER_NAME is empty")
            return cls(url, parse_hosts(sentinels), master_name, password, db)
        return cls(url, password=password, db=db)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RedisTarget:
        return cls.of(settings.redis_url, settings.redis_sentinels, settings.redis_master_name)

    @property
    def via_sentinel(self) -> bool:
        return bool(self.sentinels)


def parse_hosts(spec: str) -> tuple[tuple[str, int], ...]:
    """'h1:26379,h2:26379' -> ((h1, 26379), (h2, 26379))."""
    hosts = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad Sentinel address {item!r}: expected HOST:PORT")
        hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise ValueError("no Sentinel address given")
    return tuple(hosts)


def connect(
    target: RedisTarget,
    timeout_seconds: float,
    max_connections: int | None = None,
    health_check_interval: int = 0,
) -> redis.Redis:
    """A client of the target's (current) master; hiredis parses replies when installed."""
    options = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "health_check_interval": health_check_interval,
        # redis-py 8 retries failed commands by default: about 3 s per command on a dead Redis,
        # which every fail-open path (cache, rate limiter) would pay per request.
        "retry": Retry(NoBackoff(), 0),
        **({"max_connections": max_connections} if max_connections else {}),
    }
    if not target.via_sentinel:
        return redis.Redis.from_url(target.url, **options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={
            "socket_timeout": timeout_seconds,
            "socket_connect_timeout": timeout_seconds,
            "retry": Retry(NoBackoff(), 0),
        },
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master_name, password=target.password, db=target.db, **options
    )
    return client


def make_redis(settings: ServiceSettings, max_connections: int | None = None) -> redis.Redis:
    """A service's shared client: timeouts keep a dead Redis from stalling RPCs. A thread uses one
    connection at a time, and scripts keep theirs on a free list of their own
    (farmlokal_common/redis_scripts.py): so twice the serving threads, and room for the background
    ones (outbox relay, sync, health checks)."""
    return connect(
        RedisTarget.from_settings(settings),
        settings.redis_socket_timeout_seconds,
        max_connections=max_connections or settings.thread_pool_size * 2 + 16,
        health_check_interval=15,
    )


def ping(client: redis.Redis) -> None:
    """A dependency check: raises when Redis does not answer."""
    client.ping()
