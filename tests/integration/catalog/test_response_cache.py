"""Response cache: generation invalidation, single-flight within and across replicas, Redis outage."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from sqlalchemy import text

from catalog_service.response_cache import CacheSettings, ResponseCache
from devstack.processes import free_port
from farmlokal_common import request_context
from farmlokal_common.bulkhead import Bulkhead
from farmlokal_common.db import make_engine
from farmlokal_common.settings import ServiceSettings
from tests.redis_commands import CommandLog


class CountingQuery:
    """Stands in for the database query and counts how often it runs."""

    def __init__(self, delay: float = 0.05) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        return f"page-{n}".encode()


def test_two_hundred_cold_requests_across_replicas_run_one_query(redis_client: redis.Redis) -> None:
    replicas = [ResponseCache(redis_client, CacheSettings("t")) for _ in range(3)]
    query = CountingQuery(delay=0.2)
    barrier = threading.Barrier(50)

    def request(i: int) -> bytes:
        if i < 50:
            barrier.wait()
        return replicas[i % 3].get_or_compute("q=mango", query)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(request, range(200)))
    assert query.calls == 1
    assert set(results) == {b"page-1"}


def test_a_write_bumps_the_generation_so_the_next_read_recomputes(redis_client: redis.Redis) -> None:
    cache = ResponseCache(redis_client, CacheSettings("t"))
    query = CountingQuery(delay=0)
    assert cache.get_or_compute("q", query) == b"page-1"
    assert cache.get_or_compute("q", query) == b"page-1"
    cache.bump_generation()
    assert cache.get_or_compute("q", query) == b"page-2"


def test_waiters_fall_back_to_querying_after_the_bounded_wait(redis_client: redis.Redis) -> None:
    cache = ResponseCache(redis_client, CacheSettings("t", wait_seconds=0.1))
    generation = redis_client.get("t:generation") or b"0"
    # Another replica holds the lock and never delivers (e.g. it died mid-query).
    import hashlib

    digest = hashlib.sha256(b"q").hexdigest()[:32]
    redis_client.set(f"t:resp:{generation.decode()}:{digest}:lock", "someone-else", px=5000)
    query = CountingQuery(delay=0)
    started = time.monotonic()
    assert cache.get_or_compute("q", query) == b"page-1"
    assert time.monotonic() - started < 1.0
    assert query.calls == 1


def test_redis_down_serves_from_the_database_within_the_bulkhead(mariadb) -> None:
    """With Redis down every listing is a database query; the bulkhead every serving thread's database
    call passes bounds how many run at once (one mechanism, not a second semaphore in the cache)."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = ResponseCache(dead, CacheSettings("t"))
    engine = make_engine(
        mariadb.service_url("catalog"), ServiceSettings(), read_only=True, bulkhead=Bulkhead(2, 5.0)
    )
    running, peak, lock = 0, 0, threading.Lock()

    def query() -> bytes:
        nonlocal running, peak
        with engine.connect() as conn:
            with lock:
                running += 1
                peak = max(peak, running)
            conn.execute(text("SELECT SLEEP(0.05)"))
            with lock:
                running -= 1
        return b"from-mysql"

    def request(_: int) -> bytes:
        token = request_context.bind("test", "/t/List", lambda: 10.0)
        try:
            return cache.get_or_compute("q", query)
        finally:
            request_context.unbind(token)

    try:
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(request, range(20)))
    finally:
        engine.dispose()
    assert results == [b"from-mysql"] * 20
    assert 1 <= peak <= 2  # never more than the bound (threads may not overlap on a busy box)


def test_recovers_by_itself_when_redis_returns(redis_server, redis_client: redis.Redis) -> None:
    cache = ResponseCache(
        redis.Redis.from_url(redis_server.url, socket_timeout=0.2),
        CacheSettings("t", redis_backoff_seconds=0.1),
    )
    query = CountingQuery(delay=0)
    redis_server.stop()
    try:
        assert cache.get_or_compute("q", query) == b"page-1"
        assert cache.get_or_compute("q", query) == b"page-2"  # no cache while Redis is gone
    finally:
        redis_server.start()
    time.sleep(0.15)
    assert cache.get_or_compute("q", query) == b"page-3"
    assert cache.get_or_compute("q", query) == b"page-3"  # cached again


def test_waiters_stop_waiting_as_soon_as_a_failing_leader_gives_up(redis_client: redis.Redis) -> None:
    leader_cache = ResponseCache(redis_client, CacheSettings("t", wait_seconds=5))
    follower_cache = ResponseCache(redis_client, CacheSettings("t", wait_seconds=5))
    started = threading.Event()

    def failing() -> bytes:
        started.set()
        time.sleep(0.2)
        raise RuntimeError("database error")

    def leader() -> None:
        with contextlib.suppress(RuntimeError):
            leader_cache.get_or_compute("q", failing)

    thread = threading.Thread(target=leader)
    thread.start()
    started.wait(2)
    began = time.monotonic()
    assert follower_cache.get_or_compute("q", lambda: b"second try") == b"second try"
    assert time.monotonic() - began < 1.5  # not the 5 s wait
    thread.join()


def test_a_miss_is_three_round_trips_and_the_leader_leaves_no_lock(redis_client: redis.Redis) -> None:
    """Lookup, the single-flight lock (or the value, if filled since), then the value and the lock's release together; the next call
    is a hit in one round trip."""
    log = CommandLog(redis_client)
    cache = ResponseCache(log.client, CacheSettings("t_miss", ttl_seconds=30))
    cache.get_or_compute("warm-up", CountingQuery(delay=0))  # loads the scripts into Redis
    query = CountingQuery(delay=0)
    log.reset()
    assert cache.get_or_compute("q=kokum", query) == b"page-1"
    assert log.sent == ["EVALSHA", "EVALSHA", "EVALSHA"]  # lookup, lock, fill and release
    assert not redis_client.keys("{t_miss}:resp:*:lock"), "the lock was released"
    values = redis_client.keys("{t_miss}:resp:*")
    assert len(values) == 2 and all(0 < redis_client.ttl(key) <= 30 for key in values)
    log.reset()
    assert cache.get_or_compute("q=kokum", query) == b"page-1" and query.calls == 1
    assert log.sent == ["EVALSHA"]


def test_a_leader_whose_query_fails_releases_the_lock_and_stores_nothing(redis_client: redis.Redis) -> None:
    cache = ResponseCache(redis_client, CacheSettings("t_fail"))

    def failing() -> bytes:
        raise RuntimeError("database gone")

    with contextlib.suppress(RuntimeError):
        cache.get_or_compute("q=fails", failing)
    assert redis_client.keys("{t_fail}:resp:*") == []
    assert cache.get_or_compute("q=fails", CountingQuery(delay=0)) == b"page-1"


def test_a_call_whose_lookup_missed_just_before_a_fill_shares_that_value(redis_client: redis.Redis) -> None:
    """The race behind a flaky single-flight test: a call's lookup misses, the leader fills and
    releases, the local flight ends, then this call takes the lock. It must find the value then,
    not compute it again."""
    cache = ResponseCache(redis_client, CacheSettings("t_late"))
    query = CountingQuery(delay=0)
    assert cache.get_or_compute("q=late", query) == b"page-1"
    generation = cache.generations.current()
    assert generation is not None
    cache._get = lambda digest, gate: (generation, None)  # type: ignore[method-assign]  # the stale miss
    assert cache.get_or_compute("q=late", query) == b"page-1"
    assert query.calls == 1
    assert not redis_client.keys("{t_late}:resp:*:lock"), "no lock taken for it"
