"""Outbound deliveries: fan-out, signatures, a subscriber that is down then back, 410, SSRF refusals."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from devstack.processes import free_port
from farmlokal_common.errors import InvalidArgument
from farmlokal_common.timestamps import utcnow
from webhook_service.delivery_store import DeliveryStore
from webhook_service.delivery_worker import DeliveryWorker
from webhook_service.domain import CatalogEvent
from webhook_service.pacing import Pacing
from webhook_service.signature import parse_headers, secret_key, verify
from webhook_service.subscription_store import SubscriptionStore
from webhook_service.subscriptions import Subscriptions
from webhook_service.url_policy import UrlPolicy


def catalog_event(outbox_id: int, event_type: str = "product.updated") -> CatalogEvent:
    payload = json.dumps({"id": str(outbox_id), "external_id": f"sup-{outbox_id}", "price": "1.00"})
    return CatalogEvent(outbox_id, event_type, payload, utcnow())


@pytest.fixture
def subscriptions(engine) -> Subscriptions:
    return Subscriptions(SubscriptionStore(engine), UrlPolicy("loopback"))


def worker(engine, delays=(0, 0, 0)) -> DeliveryWorker:
    return DeliveryWorker(
        DeliveryStore(engine),
        httpx.Client(),
        UrlPolicy("loopback"),
        list(delays),
        Pacing(0.01, 0.05),
        timeout_seconds=2,
    )


def test_publishing_fans_out_to_matching_subscriptions_once(subscriptions) -> None:
    sub = subscriptions.create("http://127.0.0.1:9/hooks", ["product.updated"], "crm")
    subscriptions.create("http://127.0.0.1:9/other", ["product.deleted"], "")
    assert sub.secret.startswith("whsec_")
    assert subscriptions.get(sub.id).secret == ""  # shown only on creation
    assert subscriptions.publish([catalog_event(1), catalog_event(2)]) == (2, 2)
    assert subscriptions.publish([catalog_event(1)]) == (1, 0)  # replayed hand-over


def test_a_subscriber_down_for_a_while_receives_every_event_signed(subscriptions, subscriber, engine) -> None:
    port = free_port()
    down_url = f"http://127.0.0.1:{port}/hooks"
    sub = subscriptions.create(subscriber.url, ["product.updated"], "")
    # While the subscriber is down (point the subscription at a closed port), attempts fail.
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE subscriptions SET url = :u WHERE id = :id"), {"u": down_url, "id": sub.id})
    subscriptions.publish([catalog_event(n) for n in range(1, 6)])
    sender = worker(engine, delays=(0, 0, 0, 0))
    sender.run_once()
    deliveries, _ = subscriptions.deliveries(sub.id, 0, 10)
    assert {d.status for d in deliveries} == {"failed"}
    assert deliveries[0].attempt_log[0].error
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE subscriptions SET url = :u WHERE id = :id"), {"u": subscriber.url, "id": sub.id}
        )
    while sender.run_once():
        pass
    assert sorted(json.loads(body)["data"]["external_id"] for _, body in subscriber.received) == [
        f"sup-{n}" for n in range(1, 6)
    ]
    for headers, body in subscriber.received:
        verify([secret_key(sub.secret)], parse_headers(headers), body)
    deliveries, _ = subscriptions.deliveries(sub.id, 0, 10)
    assert {d.status for d in deliveries} == {"succeeded"}
    assert all(d.attempt_log[-1].status_code == 200 for d in deliveries)


def test_the_last_failure_makes_a_delivery_dead(subscriptions, subscriber, engine) -> None:
    subscriber.status = 500
    sub = subscriptions.create(subscriber.url, ["product.updated"], "")
    subscriptions.publish([catalog_event(7)])
    sender = worker(engine, delays=(0,))
    sender.run_once()
    sender.run_once()
    (delivery,), _ = subscriptions.deliveries(sub.id, 0, 10)
    assert (delivery.status, delivery.attempts) == ("dead", 2)
    assert [a.status_code for a in delivery.attempt_log] == [500, 500]


def test_410_disables_the_subscription(subscriptions, subscriber, engine) -> None:
    subscriber.status = 410
    sub = subscriptions.create(subscriber.url, ["product.updated"], "")
    subscriptions.publish([catalog_event(8), catalog_event(9)])
    sender = worker(engine)
    while sender.run_once():
        pass
    assert len(subscriber.received) == 1
    after = subscriptions.get(sub.id)
    assert not after.enabled and "410" in after.disabled_reason


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1/hooks", ""),
        ("http://10.1.2.3/hooks", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "private"),
        ("http://192.168.1.1/", ""),
        ("ftp://example.com/", "private"),
        ("http://user:pw@127.0.0.1/", "loopback"),
        ("not a url", ""),
    ],
)
def test_unsafe_subscriber_urls_are_refused(engine, url: str, allow: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Subscriptions(engine, UrlPolicy(allow)).create(url, ["product.updated"], "")
    assert info.value.violations[0].field == "url"


def test_unknown_event_types_are_refused(subscriptions) -> None:
    with pytest.raises(InvalidArgument, match="allowed"):
        subscriptions.create("http://127.0.0.1/h", ["product.exploded"], "")


def test_sending_waits_no_longer_than_the_timeout(subscriptions, engine) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    sub = subscriptions.create(f"http://127.0.0.1:{listener.getsockname()[1]}/", ["product.updated"], "")
    subscriptions.publish([catalog_event(10)])
    sender = DeliveryWorker(
        DeliveryStore(engine),
        httpx.Client(),
        UrlPolicy("loopback"),
        [0],
        Pacing(0.01, 0.05),
        timeout_seconds=0.5,
    )
    started = time.monotonic()
    sender.run_once()
    assert time.monotonic() - started < 3
    (delivery,), _ = subscriptions.deliveries(sub.id, 0, 10)
    assert delivery.attempt_log[0].error == "timeout"
    listener.close()


def test_a_bad_event_refuses_the_whole_batch_and_writes_nothing(subscriptions, engine) -> None:
    subscriptions.create("http://127.0.0.1:9/hooks", ["product.updated"], "")
    bad = CatalogEvent(12, "product.updated", "not json", utcnow())
    with pytest.raises(InvalidArgument) as info:
        subscriptions.publish([catalog_event(11), bad, CatalogEvent(0, "product.updated", "", utcnow())])
    fields = {v.field for v in info.value.violations}
    assert fields == {"events[1].payload_json", "events[2].outbox_id", "events[2].payload_json"}
    from sqlalchemy import text

    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM catalog_events")).scalar() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM deliveries")).scalar() == 0
