"""Inbound events: durable storage, duplicates at once and days later, every error status."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from farmlokal_common.errors import InvalidArgument, NotFound, Unauthenticated
from tests.integration.webhooks.conftest import signed

EVENT = {"type": "product.price_changed", "data": {"external_id": "sup-1", "price": "10.00"}}


def test_first_delivery_is_accepted_and_stored_before_the_answer(inbound, engine) -> None:
    receipt = inbound.receive("supplier", *signed("evt-1", EVENT))
    assert (receipt.event_id, receipt.status) == ("evt-1", "accepted")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM inbound_events WHERE event_id = 'evt-1'")).scalar()
            == "pending"
        )


def test_a_retry_days_later_with_a_fresh_timestamp_is_a_duplicate(inbound, redis_client) -> None:
    inbound.receive("supplier", *signed("evt-2", EVENT, timestamp=int(time.time()) - 200))
    redis_client.flushall()  # the fast path may be gone; MySQL still knows
    assert inbound.receive("supplier", *signed("evt-2", EVENT)).status == "duplicate"


def test_two_hundred_concurrent_copies_give_one_accepted(inbound, engine) -> None:
    headers, body = signed("evt-3", EVENT)
    barrier = threading.Barrier(50)

    def send(i: int) -> str:
        if i < 50:
            barrier.wait()
        return inbound.receive("supplier", headers, body).status

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 199
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM inbound_events WHERE event_id = 'evt-3'")).scalar() == 1
        )


def test_unknown_source_is_not_found(inbound) -> None:
    with pytest.raises(NotFound):
        inbound.receive("stranger", *signed("evt-4", EVENT))


def test_bad_signature_and_stale_timestamp_are_unauthenticated(inbound) -> None:
    headers, body = signed("evt-5", EVENT)
    with pytest.raises(Unauthenticated):
        inbound.receive("supplier", {**headers, "webhook-signature": "v1,AAAA"}, body)
    with pytest.raises(Unauthenticated):
        inbound.receive("supplier", *signed("evt-5", EVENT, timestamp=int(time.time()) - 301 - 5))


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"data": {}}', b'{"type": ""}'])
def test_bodies_without_a_json_type_are_invalid(inbound, body: bytes) -> None:
    with pytest.raises(InvalidArgument):
        inbound.receive("supplier", *signed("evt-6", body))


def test_missing_headers_are_invalid(inbound) -> None:
    headers, body = signed("evt-7", EVENT)
    del headers["webhook-timestamp"]
    with pytest.raises(InvalidArgument, match="webhook-timestamp"):
        inbound.receive("supplier", headers, body)
