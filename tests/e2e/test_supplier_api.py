"""Supplier sync (API A) through the edge: admin token, summary, status, changes reach the listing."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.auth_sandbox import API_AUDIENCE


@pytest.fixture(scope="module")
def admin(edge, sandbox) -> httpx.Client:
    token = sandbox.token(scope="catalog:admin", audience=API_AUDIENCE)
    with edge.client() as client:
        client.headers["authorization"] = f"Bearer {token}"
        client.timeout = httpx.Timeout(120)
        yield client


def test_sync_imports_then_reports_everything_unchanged_then_picks_up_a_change(admin, edge, sandbox) -> None:
    first = admin.post("/v1/supplier/sync", json={})
    assert first.status_code == 200, first.text
    summary = first.json()
    assert summary["fetched"] >= 1000 and summary["created"] == summary["fetched"] and summary["failed"] == 0
    assert summary["breaker_state"] == "closed" and int(summary["duration_ms"]) > 0

    second = admin.post("/v1/supplier/sync", json={}).json()
    assert second["created"] == 0 and second["updated"] == 0

    with httpx.Client(trust_env=False, timeout=10) as plain:
        changed = plain.post(f"{sandbox.url}/_sandbox/supplier/mutate", params={"count": 1})
        assert changed.status_code == 200, changed.text
    third = admin.post("/v1/supplier/sync", json={}).json()
    assert third["updated"] == 1 and third["created"] == 0

    status = admin.get("/v1/supplier/status").json()
    assert status["breaker_state"] == "closed"
    assert status["last_sync"]["updated"] == 1 and status["last_sync_at"].endswith("Z")


def test_sync_without_the_admin_scope_is_forbidden(edge, sandbox) -> None:
    with edge.client() as client:
        token = sandbox.token(scope="webhooks:admin", audience=API_AUDIENCE)
        response = client.post("/v1/supplier/sync", json={}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 403
