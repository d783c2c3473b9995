"""The supplier API hanging, then refusing: the breaker opens, the sync reports it, calls stop reaching
the supplier, and listing is no slower meanwhile."""

from __future__ import annotations

import statistics
import threading
import time

import httpx

from tests.faults.background_load import BackgroundLoad
from tests.faults.conftest import FaultStack, wait_until

LISTINGS = [
    ("/v1/products", {"limit": "20"}),
    ("/v1/products", {"limit": "20", "sort": "price", "order": "desc"}),
    ("/v1/categories", {}),
]


def p95(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20)[18]


def failed_sync(http: httpx.Client, headers: dict[str, str]) -> tuple[float, str]:
    """A sync that fetched nothing: a 503 saying why (never a 200 with fetched 0)."""
    started = time.monotonic()
    response = http.post("/v1/supplier/sync", json={"full": True}, headers=headers)
    assert response.status_code == 503, response.text
    return time.monotonic() - started, response.json()["message"]


def breaker_state(http: httpx.Client, headers: dict[str, str]) -> str:
    return str(http.get("/v1/supplier/status", headers=headers).json()["breaker_state"])


def test_supplier_down_opens_the_breaker_and_listing_is_unaffected(stack: FaultStack) -> None:
    admin = stack.admin_headers()
    with stack.edge.client(timeout=30) as http:
        for path, params in LISTINGS:
            assert http.get(path, params=params).status_code == 200
        with BackgroundLoad(stack.edge.base_url, LISTINGS, rate=20) as quiet:
            time.sleep(3)
        baseline = p95([a.seconds for a in quiet.answers])

        stack.supplier.blackhole()  # the supplier accepts and never answers: every attempt times out
        reasons: list[str] = []
        states: list[str] = []

        def sync_until_open() -> None:
            while len(reasons) < 6:
                reasons.append(failed_sync(http, admin)[1])
                states.append(breaker_state(http, admin))
                if states[-1] == "open":
                    return

        with BackgroundLoad(stack.edge.base_url, LISTINGS, rate=20) as busy:
            load_started = time.monotonic()
            syncing = threading.Thread(target=sync_until_open)
            syncing.start()
            syncing.join(60)
            time.sleep(max(0.0, 3 - (time.monotonic() - load_started)))  # enough answers for a p95
        assert states and states[-1] == "open", (states, reasons)
        assert all("supplier" in reason for reason in reasons), reasons

        # Listing during the failing syncs: no errors, and not held up by the supplier's timeouts (a
        # sync waits 2 x 1 s per page here). Slack for a shared 2-core box: twice the baseline + 0.1 s.
        assert busy.errors() == [], busy.errors()[:3]
        during = p95([a.seconds for a in busy.answers])
        assert during < 2 * baseline + 0.1, f"listing p95 {baseline * 1000:.0f} -> {during * 1000:.0f} ms"

        # Open: a sync fails at once without a single connection to the supplier.
        stack.supplier.reset()
        reached = stack.supplier.stats().accepted
        seconds, reason = failed_sync(http, admin)
        assert breaker_state(http, admin) == "open", reason
        assert seconds < 1.0
        assert stack.supplier.stats().accepted == reached

        status = http.get("/v1/supplier/status", headers=admin)
        assert status.status_code == 200
        body = status.json()
        assert body["breaker_state"] == "open"
        assert "supplier" in body["last_error"].lower(), body
        assert not any(word in body["last_error"] for word in ("Traceback", "127.0.0.1"))

        # Health: the supplier counts as degraded, never down; listing still answers.
        wait_until(
            lambda: http.get("/health").json()["checks"]["supplier_api"]["state"] == "degraded",
            10,
            "health reporting the supplier degraded",
        )
        report = http.get("/health")
        assert report.status_code == 200 and report.json()["status"] == "degraded"
