"""The breaker shared through a real Redis, and pybreaker 1.4's sharp edges measured next to the workarounds."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pybreaker
import pytest
import redis

from devstack.processes import free_port
from farmlokal_common.circuit_breaker import BreakerSettings, CircuitOpen, UpstreamBreaker, breaker_redis
from farmlokal_common.errors import Unavailable
from farmlokal_common.http_client import ResilientClient
from farmlokal_common.retry import RetryPolicy
from farmlokal_common.settings import ServiceSettings

ONE_TRY = RetryPolicy(max_attempts=1)


class Upstream:
    """A scripted upstream: `status` is what it answers now; `delay` how long it takes; counts hits."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.hits = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.hits += 1
        time.sleep(self.delay)
        return httpx.Response(self.status)


def replica(
    redis_client: redis.Redis, upstream: Upstream, fail_max: int = 3, reset: float = 1.0, policy=ONE_TRY
) -> ResilientClient:
    """One service replica: its own breaker instance and HTTP client, the shared Redis."""
    breaker = UpstreamBreaker(
        "supplier_api", redis_client, BreakerSettings(fail_max, reset, probe_ttl_seconds=5)
    )
    http = httpx.Client(transport=httpx.MockTransport(upstream))
    return ResilientClient("supplier_api", http, policy=policy, breaker=breaker)


def outcome(client: ResilientClient) -> str:
    try:
        return str(client.get("http://supplier.test/p").status_code)
    except CircuitOpen:
        return "open"
    except Unavailable:
        return "failed"


def test_threshold_opens_then_no_hits_until_the_reset_timeout_then_one_probe_closes(redis_client) -> None:
    upstream = Upstream(status=503)
    client = replica(redis_client, upstream, fail_max=3, reset=1.0)
    assert [outcome(client) for _ in range(3)] == ["failed"] * 3
    assert client.breaker.state == "open" and upstream.hits == 3
    opened = time.monotonic()
    while time.monotonic() - opened < 0.9:
        assert outcome(client) == "open"
        time.sleep(0.05)
    assert upstream.hits == 3  # fail fast: nothing reached the upstream while open
    upstream.status = 200
    time.sleep(max(0.0, 1.05 - (time.monotonic() - opened)))
    assert outcome(client) == "200"
    assert (client.breaker.state, upstream.hits) == ("closed", 4)


def test_a_failed_probe_opens_it_again_for_another_reset_timeout(redis_client) -> None:
    upstream = Upstream(status=500)
    client = replica(redis_client, upstream, fail_max=2, reset=0.5)
    [outcome(client) for _ in range(2)]
    time.sleep(0.55)
    assert outcome(client) == "failed" and upstream.hits == 3
    assert client.breaker.state == "open"
    assert outcome(client) == "open" and upstream.hits == 3


def test_retries_stop_at_the_breaker(redis_client) -> None:
    upstream = Upstream(status=503)
    client = replica(redis_client, upstream, fail_max=3, policy=RetryPolicy(6, 0.001, 0.002))
    with pytest.raises(CircuitOpen, match="supplier_api is unavailable: circuit breaker open"):
        client.get("http://supplier.test/p")
    assert upstream.hits == 3


def test_two_replicas_see_the_same_state(redis_client) -> None:
    upstream = Upstream(status=503)
    a, b = replica(redis_client, upstream), replica(redis_client, upstream)
    assert [outcome(a), outcome(b), outcome(a)] == ["failed"] * 3  # failures add up across replicas
    assert (a.breaker.state, b.breaker.state) == ("open", "open")
    assert outcome(b) == "open" and upstream.hits == 3
    upstream.status = 200
    time.sleep(1.05)
    assert outcome(b) == "200"  # b's probe closes it for a as well
    assert a.breaker.state == "closed" and outcome(a) == "200"


def test_exactly_one_probe_in_half_open_across_replicas(redis_client) -> None:
    upstream = Upstream(status=503)
    replicas = [replica(redis_client, upstream, fail_max=1, reset=0.3) for _ in range(3)]
    outcome(replicas[0])
    time.sleep(0.35)
    upstream.status, upstream.delay, upstream.hits = 200, 0.3, 0
    barrier = threading.Barrier(30)

    def call(i: int) -> str:
        barrier.wait()
        return outcome(replicas[i % 3])

    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(call, range(30)))
    assert upstream.hits == 1
    assert sorted(set(results)) == ["200", "open"] and results.count("200") == 1
    assert replicas[2].breaker.state == "closed"


def test_pybreaker_half_open_lets_every_caller_through(redis_client) -> None:
    """Measured: the stock half-open state is no limit; 30 concurrent callers all reach the upstream."""
    storage_breakers = [
        pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=0,
            state_storage=pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, redis_client, namespace="raw"
            ),
        )
        for _ in range(3)
    ]
    storage_breakers[0].half_open()
    hits = []

    def call(i: int) -> None:
        # Not through .call (it would serialise, see below): the state each caller sees decides.
        if storage_breakers[i % 3].current_state == pybreaker.STATE_HALF_OPEN:
            hits.append(i)

    with ThreadPoolExecutor(30) as pool:
        list(pool.map(call, range(30)))
    assert len(hits) == 30


def test_4xx_neither_count_nor_reset_the_failures(redis_client) -> None:
    upstream = Upstream(status=500)
    client = replica(redis_client, upstream, fail_max=3)
    outcome(client), outcome(client)
    upstream.status = 404
    assert [outcome(client) for _ in range(5)] == ["404"] * 5
    assert client.breaker.failure_count == 2
    upstream.status = 500
    outcome(client)
    assert client.breaker.state == "open"


def test_pybreaker_excluded_exceptions_reset_the_count(redis_client) -> None:
    """Measured: with 4xx as an excluded exception, one 404 wipes the failures seen so far."""

    class ClientError(Exception):
        pass

    breaker = pybreaker.CircuitBreaker(fail_max=3, exclude=[ClientError])

    def raise_(error: type[Exception]) -> None:
        raise error

    for error in (RuntimeError, RuntimeError):
        with pytest.raises(RuntimeError):
            breaker.call(raise_, error)
    assert breaker.fail_counter == 2
    with pytest.raises(ClientError):
        breaker.call(raise_, ClientError)
    assert breaker.fail_counter == 0


def test_concurrent_calls_are_not_serialised(redis_client) -> None:
    """Measured: through pybreaker's call, 6 calls of 0.2 s take 1.2 s; through our client, about 0.2 s."""
    raw = pybreaker.CircuitBreaker(fail_max=5)
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: raw.call(time.sleep, 0.2), range(6)))
    serialised = time.monotonic() - started

    client = replica(redis_client, Upstream(status=200, delay=0.2), fail_max=5)
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda _: outcome(client), range(6))) == ["200"] * 6
    ours = time.monotonic() - started
    assert serialised >= 1.2
    assert ours < 0.6


def test_pybreaker_never_counts_failures_of_async_functions() -> None:
    """Measured: decorating an async def returns the coroutine at once, so the failure happens outside."""
    breaker = pybreaker.CircuitBreaker(fail_max=1)

    @breaker
    async def failing() -> None:
        raise RuntimeError("upstream down")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            asyncio.run(failing())
    assert (breaker.current_state, breaker.fail_counter) == ("closed", 0)


def test_redis_down_fails_open_without_stalling_calls() -> None:
    """Construction does not fail, calls go through, and Redis is not asked again for a while."""
    dead = breaker_redis(
        ServiceSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_socket_timeout_seconds=0.1)
    )
    upstream = Upstream(status=503)
    started = time.monotonic()
    client = replica(dead, upstream, fail_max=1)
    assert [outcome(client) for _ in range(5)] == ["failed"] * 5
    assert upstream.hits == 5 and client.breaker.state == "closed"
    assert time.monotonic() - started < 1.0


def test_redis_py_default_retries_make_each_command_on_a_dead_redis_slow() -> None:
    """Measured: why breaker_redis() turns retries off (redis-py 8 retries with backoff by default)."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.1, socket_timeout=0.1)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        dead.get("x")
    assert time.monotonic() - started > 1.0


def test_the_reset_timeout_is_kept_to_the_millisecond(redis_client) -> None:
    """pybreaker stores opened_at in whole seconds; measured from our own timestamp no probe comes early."""
    upstream = Upstream(status=503)
    client = replica(redis_client, upstream, fail_max=1, reset=1.5)
    outcome(client)
    opened = time.monotonic()
    while time.monotonic() - opened < 1.4:
        assert outcome(client) == "open"
        time.sleep(0.02)
    assert upstream.hits == 1


def test_pybreaker_wipes_the_shared_count_when_an_instance_notices_a_close(redis_client) -> None:
    """Measured: replica B, which last saw "open", resets the count the moment it notices "closed"."""

    def storage() -> pybreaker.CircuitRedisStorage:
        return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis_client, namespace="raw-notice")

    a, b, c = (pybreaker.CircuitBreaker(fail_max=3, state_storage=storage()) for _ in range(3))
    a.open()
    assert b.state.name == pybreaker.STATE_OPEN  # b has seen it open
    a.close()
    for _ in range(2):
        with pytest.raises(RuntimeError):
            c.call(_raise_runtime_error)
    assert c.fail_counter == 2
    assert b.state.name == pybreaker.STATE_CLOSED  # b notices the close...
    assert c.fail_counter == 0  # ...and the two failures c counted are gone


def test_noticing_a_close_keeps_the_failures_other_replicas_counted(redis_client) -> None:
    upstream = Upstream(status=503)
    a, b, c = (replica(redis_client, upstream, fail_max=3, reset=0.3) for _ in range(3))
    outcome(a), outcome(a), outcome(a)
    assert outcome(b) == "open"  # b has seen it open
    upstream.status = 200
    time.sleep(0.35)
    assert outcome(a) == "200" and a.breaker.state == "closed"  # a's probe closed it
    upstream.status = 503
    outcome(c), outcome(c)
    assert c.breaker.failure_count == 2
    upstream.status = 200
    b.breaker.acquire()  # b notices the close
    assert c.breaker.failure_count == 2
    upstream.status = 503
    assert outcome(b) == "failed" and b.breaker.state == "open"  # the third failure opens it


def _raise_runtime_error() -> None:
    raise RuntimeError("upstream down")
