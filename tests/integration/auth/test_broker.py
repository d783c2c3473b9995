"""Token broker against a real Redis and a scripted provider (httpx.MockTransport)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from auth_service.broker import BrokerSettings, TokenBroker
from auth_service.provider import ClientCredentials, TokenProvider
from farmlokal_common.errors import FailedPrecondition
from farmlokal_common.retry import RetryPolicy


class ScriptedProvider:
    """A token endpoint whose answers the test chooses; counts calls."""

    def __init__(self, expires_in: float = 3600, delay: float = 0.05) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.delay = delay
        self.answer: Callable[[int], httpx.Response] | None = None
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        if self.answer is not None:
            return self.answer(n)
        return httpx.Response(
            200, json={"access_token": f"tok-{n}", "token_type": "Bearer", "expires_in": self.expires_in}
        )


def make_broker(redis_client: redis.Redis, provider: ScriptedProvider, **settings) -> TokenBroker:
    http = httpx.Client(transport=httpx.MockTransport(provider))
    credentials = ClientCredentials("http://provider.test/oauth/token", "svc", "s3cret")
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)
    return TokenBroker(
        redis_client, TokenProvider(http, credentials, policy), BrokerSettings("test", **settings)
    )


def test_many_callers_on_three_replicas_cause_one_provider_call(redis_client) -> None:
    provider = ScriptedProvider(delay=0.2)
    replicas = [make_broker(redis_client, provider) for _ in range(3)]
    barrier = threading.Barrier(60)

    def call(i: int) -> str:
        barrier.wait()
        return replicas[i % 3].get("aud", "supplier:read").token.access_token

    with ThreadPoolExecutor(60) as pool:
        tokens = set(pool.map(call, range(60)))
    assert provider.calls == 1
    assert tokens == {"tok-1"}


def test_short_lived_token_is_replaced_before_it_expires(redis_client) -> None:
    provider = ScriptedProvider(expires_in=2.0, delay=0.01)
    broker = make_broker(redis_client, provider, refresh_skew_seconds=1.0)
    seen = set()
    end = time.time() + 4
    while time.time() < end:
        lease = broker.get("aud", "s")
        assert lease.token.seconds_left() > 0, "a caller received an expired token"
        seen.add(lease.token.access_token)
        time.sleep(0.02)
    assert len(seen) >= 2
    assert provider.calls <= 5  # one refresh per window, not one per call


def test_invalid_client_is_a_clear_error_after_one_provider_call(redis_client) -> None:
    provider = ScriptedProvider(delay=0.05)
    provider.answer = lambda n: httpx.Response(
        401, json={"error": "invalid_client", "error_description": "unknown client"}
    )
    brokers = [make_broker(redis_client, provider) for _ in range(2)]
    errors = []

    def call(i: int) -> None:
        try:
            brokers[i % 2].get("aud", "s")
        except FailedPrecondition as error:
            errors.append(error.message)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(call, range(20)))
    assert provider.calls == 1
    assert len(errors) == 20 and all("invalid_client" in e for e in errors)
    assert all("s3cret" not in e for e in errors)


def test_provider_down_while_the_token_is_valid_leaves_callers_unaffected(redis_client) -> None:
    provider = ScriptedProvider(delay=0)
    broker = make_broker(redis_client, provider)
    first = broker.get("aud", "s").token
    provider.answer = lambda n: httpx.Response(503)
    assert all(broker.get("aud", "s").token == first for _ in range(20))
    assert provider.calls == 1


def test_server_errors_are_retried_with_backoff(redis_client) -> None:
    provider = ScriptedProvider(delay=0)
    provider.answer = lambda n: (
        httpx.Response(503) if n < 3 else httpx.Response(200, json={"access_token": "late", "expires_in": 60})
    )
    lease = make_broker(redis_client, provider).get("aud", "s")
    assert (lease.token.access_token, lease.source, provider.calls) == ("late", "provider", 3)


def test_invalidation_drops_only_the_token_it_names(redis_client) -> None:
    provider = ScriptedProvider(delay=0)
    broker = make_broker(redis_client, provider)
    old = broker.get("aud", "s").token
    assert broker.invalidate("sha256:000000000000", "aud", "s") is False
    assert broker.get("aud", "s").token == old
    assert broker.invalidate(old.fingerprint, "aud", "s") is True
    new = broker.get("aud", "s").token
    assert new != old
    assert broker.invalidate(old.fingerprint, "aud", "s") is False  # a late 401 keeps the newer token
    assert broker.get("aud", "s").token == new


def test_a_dead_lock_holder_delays_the_refresh_by_at_most_the_lock_ttl(redis_client) -> None:
    provider = ScriptedProvider(delay=0)
    broker = make_broker(redis_client, provider, lock_ttl_seconds=1.0, lock_wait_seconds=5.0)
    # A replica took the refresh lock and died: the key stays until its TTL.
    redis_client.set(f"{broker._key('aud', 's')}:refresh", "dead-replica", px=1000)
    started = time.monotonic()
    assert broker.get("aud", "s").token.access_token == "tok-1"
    assert 0.8 < time.monotonic() - started < 2.5


def test_repr_never_shows_the_token() -> None:
    from auth_service.tokens import Token

    assert "secret-token" not in repr(Token("secret-token", "Bearer", time.time() + 60))


def test_a_refusal_recorded_while_a_waiter_takes_the_lock_is_not_asked_again(redis_client) -> None:
    """The waiter saw no refusal, then got the lock the refused caller had just released: it must
    re-check the refusal under the lock instead of calling the provider a second time."""
    provider = ScriptedProvider(delay=0)
    provider.answer = lambda n: httpx.Response(401, json={"error": "invalid_client"})
    broker = make_broker(redis_client, provider)
    key = broker._key("aud", "s")
    original_acquire = redis.lock.Lock.acquire

    def acquire_after_a_refusal(lock, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Between the waiter's check and its lock: another replica was refused and released.
        redis_client.set(f"{key}:rejected", "invalid_client", px=10_000)
        return original_acquire(lock, *args, **kwargs)

    redis.lock.Lock.acquire = acquire_after_a_refusal  # type: ignore[method-assign]
    try:
        with pytest.raises(FailedPrecondition, match="invalid_client"):
            broker.get("aud", "s")
    finally:
        redis.lock.Lock.acquire = original_acquire  # type: ignore[method-assign]
    assert provider.calls == 0
