"""The resilient HTTP client against scripted upstreams (httpx.MockTransport): what is retried, when, how long."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from farmlokal_common.errors import Unavailable
from farmlokal_common.http_client import Attempt, ResilientClient, Timeouts, parse_retry_after
from farmlokal_common.retry import Deadline, RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay_seconds=0.01, max_delay_seconds=0.05, max_retry_after_seconds=5)


class Upstream:
    """Answers with script(n) for the n-th request (from 1); counts requests and keeps them."""

    def __init__(self, script: Callable[[int], httpx.Response]) -> None:
        self.script = script
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
        return self.script(n)


def client_for(
    upstream: Upstream, policy: RetryPolicy = FAST, **options
) -> tuple[ResilientClient, list[float]]:
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(upstream))
    return ResilientClient("test_upstream", http, policy=policy, sleep=sleeps.append, **options), sleeps


def status(code: int, **headers: str) -> Callable[[int], httpx.Response]:
    return lambda n: httpx.Response(code, headers=headers)


@pytest.mark.parametrize("code", [500, 502, 503, 504, 408, 429])
def test_retryable_statuses_are_retried_until_success(code: int) -> None:
    upstream = Upstream(lambda n: httpx.Response(code) if n < 3 else httpx.Response(200, json={"ok": True}))
    client, sleeps = client_for(upstream)
    response = client.get("http://up.test/x")
    assert (response.status_code, response.json(), upstream.calls, len(sleeps)) == (200, {"ok": True}, 3, 2)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
def test_other_4xx_are_returned_at_once(code: int) -> None:
    upstream = Upstream(status(code))
    client, sleeps = client_for(upstream)
    assert client.get("http://up.test/x").status_code == code
    assert (upstream.calls, sleeps) == (1, [])


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_transport_errors_are_retried(error: type[Exception]) -> None:
    def script(n: int) -> httpx.Response:
        if n == 1:
            raise error("boom")
        return httpx.Response(204)

    upstream = Upstream(script)
    client, _ = client_for(upstream)
    assert client.get("http://up.test/x").status_code == 204
    assert upstream.calls == 2


def test_attempts_are_capped_and_the_error_names_the_upstream() -> None:
    upstream = Upstream(status(503))
    client, sleeps = client_for(upstream)
    with pytest.raises(
        Unavailable, match=r"test_upstream is unavailable \(HTTP 503\); gave up after 4 attempts"
    ):
        client.get("http://up.test/x")
    assert (upstream.calls, len(sleeps)) == (4, 3)


def test_a_post_is_not_retried_unless_marked_idempotent() -> None:
    upstream = Upstream(status(503))
    client, _ = client_for(upstream)
    with pytest.raises(Unavailable, match="POST is not retried"):
        client.request("POST", "http://up.test/orders", json={})
    assert upstream.calls == 1
    with pytest.raises(Unavailable, match="gave up after 4"):
        client.request("POST", "http://up.test/oauth/token", idempotent=True, data={"a": "b"})
    assert upstream.calls == 5


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_idempotent_methods_are_retried(method: str) -> None:
    upstream = Upstream(lambda n: httpx.Response(503 if n == 1 else 200))
    client, _ = client_for(upstream)
    assert client.request(method, "http://up.test/x").status_code == 200
    assert upstream.calls == 2


def test_retry_after_is_honoured_and_capped() -> None:
    upstream = Upstream(
        lambda n: httpx.Response(429, headers={"retry-after": "2"}) if n == 1 else httpx.Response(200)
    )
    client, sleeps = client_for(upstream)
    client.get("http://up.test/x")
    assert sleeps == [2.0]
    upstream = Upstream(
        lambda n: httpx.Response(503, headers={"retry-after": "3600"}) if n == 1 else httpx.Response(200)
    )
    client, sleeps = client_for(upstream, deadline_seconds=60)
    client.get("http://up.test/x")
    assert sleeps == [5.0]  # the policy's cap


def test_no_retry_the_deadline_cannot_wait_for() -> None:
    upstream = Upstream(status(429, **{"retry-after": "4"}))
    client, sleeps = client_for(upstream, deadline_seconds=1.0)
    with pytest.raises(Unavailable, match="deadline leaves no time"):
        client.get("http://up.test/x")
    assert (upstream.calls, sleeps) == (1, [])


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    random.seed(7)
    upstream = Upstream(status(500))
    policy = RetryPolicy(max_attempts=6, base_delay_seconds=0.1, max_delay_seconds=0.4)
    client, sleeps = client_for(upstream, policy=policy, deadline_seconds=60)
    with pytest.raises(Unavailable):
        client.get("http://up.test/x")
    ceilings = [0.1, 0.2, 0.4, 0.4, 0.4]
    assert len(sleeps) == 5 and all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == 5  # jittered, not a fixed schedule


def test_timeouts_are_explicit_and_cut_to_the_deadline() -> None:
    upstream = Upstream(status(200))
    client, _ = client_for(upstream, timeouts=Timeouts(connect=1.5, read=2.0, write=2.0, pool=0.5))
    client.get("http://up.test/x", deadline=Deadline.after(60))
    assert upstream.requests[0].extensions["timeout"] == {
        "connect": 1.5,
        "read": 2.0,
        "write": 2.0,
        "pool": 0.5,
    }
    client.get("http://up.test/x", deadline=Deadline.after(0.8))
    timeout = upstream.requests[1].extensions["timeout"]
    assert 0.7 < timeout["read"] <= 0.8 and 0.7 < timeout["connect"] <= 0.8 and timeout["pool"] == 0.5


def test_every_attempt_is_reported_to_the_hook() -> None:
    upstream = Upstream(lambda n: httpx.Response(502) if n == 1 else httpx.Response(404))
    client, _ = client_for(upstream)
    seen: list[Attempt] = []
    assert client.get("http://up.test/x", on_attempt=seen.append).status_code == 404
    assert [(a.number, a.outcome, a.status) for a in seen] == [
        (1, "server_error", 502),
        (2, "client_error", 404),
    ]


def test_a_slow_upstream_is_abandoned_within_the_deadline() -> None:
    """A transport that never answers is cut by the read timeout, itself cut to the deadline."""

    def hang(request: httpx.Request) -> httpx.Response:
        time.sleep(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("no answer", request=request)

    client = ResilientClient("slow", httpx.Client(transport=httpx.MockTransport(hang)), policy=FAST)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="slow is unavailable"):
        client.get("http://up.test/x", deadline=Deadline.after(0.6))
    assert time.monotonic() - started < 0.8


def test_retry_after_dates_and_junk() -> None:
    now = time.time()
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert 28 <= (parse_retry_after(date, now) or 0) <= 31
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_caller_deadline_shortens_the_clients_own_but_never_extends_it() -> None:
    upstream = Upstream(status(503))
    policy = RetryPolicy(max_attempts=10, base_delay_seconds=0.2, max_delay_seconds=0.2)
    http = httpx.Client(transport=httpx.MockTransport(upstream))
    client = ResilientClient("test_upstream", http, policy=policy, deadline_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="deadline leaves no time"):
        client.get("http://up.test/x", deadline=Deadline.after(60))
    assert time.monotonic() - started < 0.6
