"""The supplier client against the real sandbox (uvicorn), the real token broker over gRPC and a real Redis.

Every count is taken at the sandbox: what reached the supplier is what its hit counters say.
"""

from __future__ import annotations

import time

import httpx
import pytest

from catalog_service.supplier.client import SupplierRejectedToken
from farmlokal_common.circuit_breaker import CircuitOpen
from farmlokal_common.errors import Unavailable
from farmlokal_common.http_client import Timeouts
from farmlokal_common.retry import Deadline, RetryPolicy

FAULTS = [
    pytest.param({"kind": "error", "status": 500}, "error_500", id="500"),
    pytest.param({"kind": "error", "status": 503}, "error_503", id="503"),
    pytest.param({"kind": "rate_limit", "retry_after": 0}, "rate_limit", id="429"),
    pytest.param({"kind": "hang", "hang_seconds": 5}, "hang", id="hang"),
    pytest.param({"kind": "reset"}, "reset", id="reset"),
    pytest.param({"kind": "latency", "latency_ms": 900}, "latency", id="latency-past-timeout"),
]


@pytest.mark.parametrize(("fault", "outcome"), FAULTS)
def test_failures_open_the_breaker_then_no_hits_until_one_probe_closes_it(
    sandbox, make_client, fault, outcome
) -> None:
    client = make_client(fail_max=3, reset=1.0)  # three attempts per page
    sandbox.fault(count=100, **fault)
    with pytest.raises(Unavailable, match="supplier_api is unavailable"):
        client.fetch_page(1, 10, None)
    assert sandbox.stats()["by_outcome"] == {outcome: 3}
    assert client.breaker_state == "open"
    opened = time.monotonic()
    while time.monotonic() - opened < 0.8:
        with pytest.raises(CircuitOpen):
            client.fetch_page(1, 10, None)
        time.sleep(0.05)
    assert sandbox.stats()["total"] == 3  # fail fast: no hits while open
    sandbox.clear_faults()
    time.sleep(max(0.0, 1.1 - (time.monotonic() - opened)))
    assert len(client.fetch_page(1, 10, None).items) == 10
    stats = sandbox.stats()
    assert (stats["total"], stats["by_outcome"].get("ok")) == (4, 1)  # one probe, and it closed it
    assert client.breaker_state == "closed"


def test_a_short_delay_is_only_slower(sandbox, make_client) -> None:
    client = make_client()
    sandbox.fault("latency", latency_ms=200)
    started = time.monotonic()
    assert len(client.fetch_page(1, 5, None).items) == 5
    assert time.monotonic() - started >= 0.2
    assert sandbox.stats()["by_outcome"] == {"latency": 1}


def test_a_hanging_supplier_is_given_up_within_the_deadline(sandbox, make_client) -> None:
    client = make_client(fail_max=10, timeouts=Timeouts(connect=2, read=2, write=2, pool=2))
    sandbox.fault("hang", count=10, hang_seconds=20)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        client.fetch_page(1, 10, None, deadline=Deadline.after(1.0))
    assert time.monotonic() - started < 1.3
    assert sandbox.stats()["by_outcome"] == {"hang": 1}


def test_retry_after_2_delays_the_next_attempt_by_at_least_2_seconds(sandbox, make_client) -> None:
    client = make_client(fail_max=10)
    sandbox.fault("rate_limit", retry_after=2)
    assert len(client.fetch_page(1, 10, None).items) == 10
    hits = sandbox.stats()["hits"]
    assert [h["outcome"] for h in hits] == ["rate_limit", "ok"]
    assert hits[1]["at"] - hits[0]["at"] >= 2.0


def test_a_401_once_refreshes_the_token_once_and_retries_once(sandbox, make_client, auth_service) -> None:
    client = make_client()
    client.fetch_page(1, 1, None)  # the broker now holds a token
    sandbox.fault("unauthorized")
    page = client.fetch_page(1, 10, None)
    assert len(page.items) == 10
    assert auth_service.servicer.calls == {"GetAccessToken": 3, "InvalidateToken": 1}
    assert sandbox.stats()["by_outcome"] == {"ok": 2, "unauthorized": 1}


def test_a_second_401_is_an_error_not_a_loop(sandbox, make_client, auth_service) -> None:
    client = make_client()
    sandbox.fault("unauthorized", count=5)
    with pytest.raises(SupplierRejectedToken):
        client.fetch_page(1, 10, None)
    assert sandbox.stats()["by_outcome"] == {"unauthorized": 2}
    assert auth_service.servicer.calls["InvalidateToken"] == 1
    assert client.breaker_state == "closed"  # a 401 says nothing about the supplier's health


def test_a_real_token_from_the_sandbox_provider_passes_its_supplier(sandbox, make_client) -> None:
    """The whole chain: auth broker → sandbox /oauth/token → supplier checks it against the JWKS."""
    page = make_client().fetch_page(1, 3, None)
    assert [item.external_id for item in page.items] == ["sup-00001", "sup-00002", "sup-00003"]
    assert page.has_more


def test_two_replicas_see_the_same_breaker_state(sandbox, make_client) -> None:
    one_try = RetryPolicy(max_attempts=1)
    a, b = make_client(fail_max=2, policy=one_try), make_client(fail_max=2, policy=one_try)
    sandbox.fault("error", count=100, status=503)
    with pytest.raises(Unavailable):
        a.fetch_page(1, 10, None)
    with pytest.raises(Unavailable):
        b.fetch_page(1, 10, None)  # the second failure, seen by the other replica, opens it
    assert (a.breaker_state, b.breaker_state) == ("open", "open")
    with pytest.raises(CircuitOpen):
        a.fetch_page(1, 10, None)
    assert sandbox.stats()["total"] == 2


def test_the_reset_fault_closes_the_connection_without_any_response(sandbox) -> None:
    with httpx.Client(trust_env=False, timeout=2) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            http.get(f"{sandbox.url}/supplier/v1/products", headers={"x-sandbox-fault": "kind=reset"})
        assert http.get(f"{sandbox.url}/healthz").status_code == 200  # the server itself is fine
    assert sandbox.stats()["by_outcome"] == {"reset": 1}
