"""Inbound webhooks through Envoy with the real services: statuses, processing, durability."""

from __future__ import annotations

import json
import signal
import time
import uuid

import httpx
import pytest

from devstack import processes, services
from webhook_service.signature import secret_key, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the dev default of WEBHOOK_SOURCE_SECRETS


@pytest.fixture(scope="module")
def http(edge) -> httpx.Client:
    with edge.client() as client:
        yield client


def post_event(
    http: httpx.Client,
    event: dict,
    event_id: str | None = None,
    timestamp: int | None = None,
    source: str = "supplier",
    body: bytes | None = None,
) -> httpx.Response:
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    raw = body if body is not None else json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret_key(SECRET), event_id, ts, raw),
    }
    return http.post(f"/v1/webhooks/{source}", content=raw, headers=headers)


def upserted(name: str) -> dict:
    return {
        "type": "product.upserted",
        "data": {
            "external_id": f"wh-{uuid.uuid4().hex[:8]}",
            "name": name,
            "description": "fresh from the farm",
            "category": "Vegetables",
            "price": "42.50",
            "stock": 7,
        },
    }


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    return check()


def test_an_upserted_event_shows_up_in_the_listing_within_seconds(http) -> None:
    response = post_event(http, upserted("Heirloom Kohlrabi Bunch"))
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    found = wait_for(lambda: http.get("/v1/products", params={"q": "kohlrabi"}).json()["products"])
    assert [p["name"] for p in found] == ["Heirloom Kohlrabi Bunch"]
    assert found[0]["price"] == "42.50"


def test_duplicates_answer_duplicate_even_with_a_fresh_timestamp(http) -> None:
    event = upserted("Purple Sprouting Broccoli")
    first = post_event(http, event, event_id="evt_dup_1", timestamp=int(time.time()) - 120)
    again = post_event(http, event, event_id="evt_dup_1")
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    assert again.json()["event_id"] == "evt_dup_1"


def test_error_statuses(http) -> None:
    event = upserted("Romanesco")
    assert post_event(http, event, source="stranger").status_code == 404
    assert post_event(http, event, timestamp=int(time.time()) - 301).status_code == 401
    assert post_event(http, event, timestamp=int(time.time()) + 301).status_code == 401
    tampered = post_event(http, event, body=b'{"type": "product.upserted", "data": {}}', event_id="evt_t")
    assert tampered.status_code == 200  # signed as sent: accepted, fails later in processing
    raw = json.dumps(event).encode()
    reserialised = http.post(
        "/v1/webhooks/supplier",
        content=json.dumps(event, indent=2).encode(),
        headers={
            "webhook-id": "evt_r",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": sign(secret_key(SECRET), "evt_r", int(time.time()), raw),
        },
    )
    assert reserialised.status_code == 401
    missing = http.post("/v1/webhooks/supplier", content=raw, headers={"webhook-id": "evt_m"})
    assert missing.status_code == 400 and "webhook-timestamp" in missing.json()["message"]
    assert post_event(http, {}, body=b"not json").status_code == 400
    assert post_event(http, {"data": {}}).status_code == 400
    assert post_event(http, {}, body=b"x" * (1024 * 1024 + 1)).status_code == 413


def test_an_event_stored_before_a_crash_is_processed_after_restart(edge, http, run_dir) -> None:
    """A webhook replica stores an event, cannot process it yet (its catalog address is wrong), and is
    SIGKILLed; the replica started after it processes the event. The shared replica is paused
    meanwhile so that it cannot take the event first."""
    import grpc
    from farmlokal.webhook.v1 import webhook_pb2 as pb
    from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc
    from google.api import httpbody_pb2

    shared = edge.plans["webhook"]
    timings = {"WEBHOOK_EVENT_RETRY_DELAYS": "1", "WEBHOOK_EVENT_LEASE_SECONDS": "2"}
    doomed = services.ServicePlan(
        name="webhook",
        grpc_port=processes.free_port(),
        metrics_port=processes.free_port(),
        database_url=shared.database_url,
        redis_url=shared.redis_url,
        extra_env={**timings, "WEBHOOK_CATALOG_ADDRESS": f"127.0.0.1:{processes.free_port()}"},
    )
    restarted = services.ServicePlan(
        name="webhook",
        grpc_port=processes.free_port(),
        metrics_port=processes.free_port(),
        database_url=shared.database_url,
        redis_url=shared.redis_url,
        extra_env={**timings, "WEBHOOK_CATALOG_ADDRESS": edge.plans["catalog"].address},
    )
    edge.processes["webhook"].process.send_signal(signal.SIGSTOP)
    replacement = None
    try:
        replica = services.start(doomed, run_dir / "e2e" / "webhook-doomed.log")
        processes.wait_for_port(doomed.grpc_port, 30, replica.process, "webhook replica")
        raw = json.dumps(upserted("Crash Test Celeriac")).encode()
        ts = int(time.time())
        with grpc.insecure_channel(doomed.address) as channel:
            answer = pb_grpc.WebhookServiceStub(channel).ReceiveWebhook(
                pb.ReceiveWebhookRequest(source="supplier", body=httpbody_pb2.HttpBody(data=raw)),
                metadata=[
                    ("webhook-id", "evt_crash"),
                    ("webhook-timestamp", str(ts)),
                    ("webhook-signature", sign(secret_key(SECRET), "evt_crash", ts, raw)),
                ],
                timeout=10,
            )
        assert answer.status == "accepted"
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(10)
        assert http.get("/v1/products", params={"q": "celeriac"}).json()["products"] == []
        replacement = services.start(restarted, run_dir / "e2e" / "webhook-restarted.log")
        processes.wait_for_port(restarted.grpc_port, 30, replacement.process, "restarted webhook replica")
        found = wait_for(lambda: http.get("/v1/products", params={"q": "celeriac"}).json()["products"])
        assert [p["name"] for p in found] == ["Crash Test Celeriac"]
    finally:
        if replacement is not None:
            replacement.stop()
        edge.processes["webhook"].process.send_signal(signal.SIGCONT)
