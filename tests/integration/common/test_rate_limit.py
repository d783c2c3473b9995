"""The GCRA limiter under concurrency, its headers, and failing open when Redis is gone."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from devstack.processes import free_port
from farmlokal_common import rate_limit
from farmlokal_common.rate_limit import Limit, RateLimiter, parse_limits
from farmlokal_common.redis_scripts import register_script


def test_limit_plus_k_concurrent_requests_reject_exactly_k(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, {"ListProducts": Limit(20, 60)})
    with ThreadPoolExecutor(16) as pool:
        decisions = list(pool.map(lambda _: limiter.check("ListProducts", "ip:10.0.0.1"), range(27)))
    assert sum(not d.allowed for d in decisions) == 7
    rejected = next(d for d in decisions if not d.allowed)
    assert rejected.remaining == 0 and rejected.retry_after_seconds >= 1


def test_remaining_counts_down_and_clients_are_separate(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, {"*": Limit(5, 60)})
    remaining = [limiter.check("GetProduct", "ip:a").remaining for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    assert not limiter.check("GetProduct", "ip:a").allowed
    assert limiter.check("GetProduct", "ip:b").allowed
    assert limiter.check("ListProducts", "ip:a").allowed  # routes have their own budgets


def test_fails_open_when_redis_is_unreachable() -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    limiter = RateLimiter(dead, {"*": Limit(1, 60)})
    assert limiter.check("ListProducts", "ip:a") is None
    assert limiter.check("ListProducts", "ip:a") is None


def test_parse_limits_rejects_nonsense() -> None:
    assert parse_limits("ListProducts=100/1,*=5/60") == {"ListProducts": Limit(100, 1), "*": Limit(5, 60)}
    with pytest.raises(ValueError, match="REQUESTS/SECONDS"):
        parse_limits("ListProducts=lots")
    with pytest.raises(ValueError, match="positive"):
        parse_limits("ListProducts=0/1")


class CountingScripts:
    """Stands in for a blackholed Redis: every script call fails after counting itself."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def script(self, client: redis.Redis, source: str):
        script = register_script(client, source)

        def run(keys=(), args=()):
            self.calls += 1
            if self.down:
                raise redis.TimeoutError("blackholed")
            return script(keys=keys, args=args)

        return run


def test_after_a_redis_failure_it_fails_open_without_calling_redis_until_the_backoff_ends(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = CountingScripts()
    monkeypatch.setattr(rate_limit, "register_script", fake.script)
    limiter = RateLimiter(redis_client, {"*": Limit(1, 60)}, redis_backoff_seconds=0.3)
    assert [limiter.check("ListProducts", "ip:b") for _ in range(20)] == [None] * 20
    assert fake.calls == 1  # one call paid the timeout; the other 19 were let through at once
    fake.down = False
    time.sleep(0.35)
    decision = limiter.check("ListProducts", "ip:b")
    assert decision is not None and decision.allowed and fake.calls == 2
    assert not limiter.check("ListProducts", "ip:b").allowed  # limited again: the limit is 1
