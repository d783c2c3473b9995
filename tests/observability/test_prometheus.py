"""A real Prometheus scraping the real stack with deploy/prometheus's jobs and rules: every target is up,
every Grafana dashboard query and recording rule returns a series after a little traffic, and a
supplier outage fires CircuitBreakerOpen, which clears once the supplier is back."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack import processes
from tests.observability.conftest import ObservedStack
from tests.observability.prometheus_server import DEPLOY, Prometheus, selectors, wait_until
from webhook_service.signature import secret_key, sign

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "farmlokal.json"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the dev default of WEBHOOK_SOURCE_SECRETS


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every target in the dashboard, rows' panels included."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            found.extend(
                (panel.get("title", "?"), t["expr"]) for t in panel.get("targets", []) if "expr" in t
            )

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return found


def recorded_series() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    return [rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule]


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def subscriber() -> Iterator[str]:
    """A webhook subscriber that takes every delivery (204)."""
    server = ThreadingHTTPServer(("127.0.0.1", processes.free_port()), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def post_webhook(http: httpx.Client, event: dict[str, Any], event_id: str) -> httpx.Response:
    raw = json.dumps(event).encode()
    now = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret_key(WEBHOOK_SECRET), event_id, now, raw),
    }
    return http.post("/v1/webhooks/supplier", content=raw, headers=headers)


def upserted(**data: Any) -> dict[str, Any]:
    product = {
        "external_id": f"obs-{uuid.uuid4().hex[:8]}",
        "name": "Observed Okra",
        "category": "Vegetables",
        "price": "3.20",
        "stock": 5,
    }
    return {"type": "product.upserted", "data": {**product, **data}}


@pytest.fixture(scope="module")
def traffic(observed_stack: ObservedStack, prometheus: Prometheus, subscriber: str) -> None:
    """A little of everything the dashboard and the rules count: listings (and 429s on the
    categories' 5-a-minute limit), inbound webhooks (accepted, duplicate, one that goes dead),
    deliveries to a subscriber that takes them and to one that is not there, a supplier sync."""
    admin = observed_stack.admin_headers()
    with httpx.Client(base_url=observed_stack.base_url, trust_env=False, timeout=60) as http:
        for _ in range(5):
            assert http.get("/v1/products", params={"limit": "20"}).status_code == 200
        assert http.get("/v1/products/99999999").status_code == 404
        assert 429 in {http.get("/v1/categories").status_code for _ in range(7)}

        subscriptions = [
            http.post(
                "/v1/webhooks/subscriptions",
                json={"url": url, "event_types": ["product.created"]},
                headers=admin,
            )
            for url in (subscriber, f"http://127.0.0.1:{processes.free_port()}/gone")
        ]
        assert [s.status_code for s in subscriptions] == [200, 200], [s.text for s in subscriptions]
        event_id = f"evt_{uuid.uuid4().hex}"
        assert post_webhook(http, upserted(), event_id).json()["status"] == "accepted"
        assert post_webhook(http, upserted(), event_id).json()["status"] == "duplicate"
        assert post_webhook(http, upserted(name=None), f"evt_{uuid.uuid4().hex}").status_code == 200

        def delivered() -> bool:
            outcomes = {
                s["metric"]["outcome"] for s in prometheus.query("farmlokal_webhook_deliveries_total")
            }
            return {"succeeded", "failed"} <= outcomes

        wait_until(delivered, 30, "deliveries succeeded and failed in Prometheus")
        # The sync below imports the supplier's products: no fan-out of their events, please.
        for subscription in subscriptions:
            sub_id = subscription.json()["id"]
            assert http.delete(f"/v1/webhooks/subscriptions/{sub_id}", headers=admin).status_code == 200
        sync = http.post("/v1/supplier/sync", json={}, headers=admin)
        assert sync.status_code == 200 and sync.json()["breaker_state"] == "closed", sync.text
    wait_until(
        lambda: prometheus.query('farmlokal_webhook_events_total{status="dead"} > 0'), 30, "a dead event seen"
    )


def test_every_target_is_up(observed_stack: ObservedStack, prometheus: Prometheus) -> None:
    expected = {
        (job, target) for job, targets in observed_stack.scrape_targets().items() for target in targets
    }

    def all_up() -> bool:
        return {
            (t["labels"]["job"], t["labels"]["instance"]) for t in prometheus.targets() if t["health"] == "up"
        } == expected

    wait_until(all_up, 20, f"every target up: {sorted(expected)}")
    assert len([job for job, _ in expected if job == "webhook"]) == 2, "one target per webhook worker"


def test_every_dashboard_query_returns_a_series(prometheus: Prometheus, traffic: None) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    empty = _without_series(prometheus, queries)
    assert empty == [], "dashboard queries without a series:\n" + "\n".join(empty)


def test_every_recording_rule_returns_a_series(prometheus: Prometheus, traffic: None) -> None:
    records = recorded_series()
    assert len(records) >= 12
    empty = _without_series(prometheus, [(record, record) for record in records])
    assert empty == [], "recording rules without a series:\n" + "\n".join(empty)


def test_the_alert_rules_are_loaded(prometheus: Prometheus) -> None:
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    loaded = {
        rule["name"]
        for group in prometheus.api("rules")["groups"]
        for rule in group["rules"]
        if rule["type"] == "alerting" and rule["health"] != "err"
    }
    assert alerts <= loaded, sorted(alerts - loaded)


def test_supplier_outage_fires_the_breaker_alert_and_recovery_clears_it(
    observed_stack: ObservedStack, prometheus: Prometheus, traffic: None
) -> None:
    admin = observed_stack.admin_headers()
    faults = f"{observed_stack.sandbox.url}/_sandbox/supplier/faults"
    assert prometheus.firing("CircuitBreakerOpen") == []
    with httpx.Client(base_url=observed_stack.base_url, trust_env=False, timeout=60) as http:

        def sync() -> str:
            """Runs a sync (a 503 when it fetched nothing) and returns the breaker's state after it."""
            answer = http.post("/v1/supplier/sync", json={}, headers=admin)
            assert answer.status_code in (200, 503), answer.text
            status = http.get("/v1/supplier/status", headers=admin)
            assert status.status_code == 200, status.text
            return str(status.json()["breaker_state"])

        started = time.monotonic()
        fault = {"kind": "error", "status": 503, "count": 100}
        httpx.post(faults, json=fault, trust_env=False).raise_for_status()
        try:
            states = [sync()]
            while states[-1] != "open" and len(states) < 5:
                states.append(sync())
            assert states[-1] == "open", states
            firing_after = wait_until(lambda: prometheus.firing("CircuitBreakerOpen"), 20, "the alert firing")
            alerts = [
                (a["job"], a["upstream"], a["severity"]) for a in prometheus.firing("CircuitBreakerOpen")
            ]
            assert alerts == [("catalog", "supplier_api", "ticket")]
        finally:
            httpx.delete(faults, trust_env=False).raise_for_status()
        outage = time.monotonic() - started
        time.sleep(2.1)  # CATALOG_SUPPLIER_BREAKER_RESET_SECONDS: then one probe may go through
        assert sync() == "closed"
    cleared_after = wait_until(lambda: not prometheus.firing("CircuitBreakerOpen"), 20, "the alert cleared")
    print(
        f"\nCircuitBreakerOpen fired {firing_after:.1f} s after the breaker opened ({outage:.1f} s of"
        f" supplier outage) and cleared {cleared_after:.1f} s after the supplier's return"
    )


def _without_series(prometheus: Prometheus, queries: list[tuple[str, str]], timeout: float = 20) -> list[str]:
    """The queries still without a series after `timeout` (a parse error fails at once)."""
    pending = dict.fromkeys(queries)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for title, expr in list(pending):
            if prometheus.query(expr):
                del pending[(title, expr)]
        if pending:
            time.sleep(0.5)
    return [f"  {title}: {expr} (reads {', '.join(selectors(expr))})" for title, expr in pending]
