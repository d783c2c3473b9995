"""The processing worker: processed, retried, dead, retried by an admin, leases, several workers."""

from __future__ import annotations

import json
import threading
from collections import Counter

from sqlalchemy import text

from tests.integration.webhooks.conftest import signed
from webhook_service.event_worker import EventWorker
from webhook_service.handlers import Ignored
from webhook_service.pacing import Pacing

PACING = Pacing(0.01, 0.05)


class FakeCatalog:
    """Stands in for the catalog's gRPC API; counts applications per event and can fail."""

    def __init__(self) -> None:
        self.applied: Counter[str] = Counter()
        self.failing = False
        self._lock = threading.Lock()

    def apply(self, event_type: str, payload: bytes) -> None:
        if event_type not in ("product.price_changed",):
            raise Ignored(f"ignored: unknown event type {event_type!r}")
        if self.failing:
            raise ConnectionError("catalog unavailable")
        with self._lock:
            self.applied[json.loads(payload)["data"]["external_id"]] += 1


def event(n: int, event_type: str = "product.price_changed") -> dict:
    return {"type": event_type, "data": {"external_id": f"sup-{n}", "price": "1.00"}}


def status(store, event_id: str) -> str:
    return store.get("supplier", event_id).status


def test_pending_events_are_processed_once(inbound, store) -> None:
    inbound.receive("supplier", *signed("e1", event(1)))
    catalog = FakeCatalog()
    EventWorker(store, catalog, [0], PACING).run_once()
    assert status(store, "e1") == "processed" and catalog.applied == {"sup-1": 1}
    assert EventWorker(store, catalog, [0], PACING).run_once() == 0


def test_failures_retry_then_die_then_an_admin_retry_processes(inbound, store, caplog) -> None:
    inbound.receive("supplier", *signed("e2", event(2)))
    catalog = FakeCatalog()
    catalog.failing = True
    worker = EventWorker(store, catalog, [0, 0], PACING)
    with caplog.at_level("WARNING", logger="farmlokal.webhooks.worker"):
        worker.run_once()
    assert status(store, "e2") == "failed"
    assert "catalog unavailable" in store.get("supplier", "e2").last_error
    logged = [r for r in caplog.records if r.getMessage() == "event failed, retry scheduled"]
    assert [(r.event_id, r.attempt) for r in logged] == [("e2", 1)]  # type: ignore[attr-defined]
    assert "catalog unavailable" in logged[0].error  # type: ignore[attr-defined]
    worker.run_once()
    worker.run_once()
    assert status(store, "e2") == "dead" and store.get("supplier", "e2").attempts == 3
    catalog.failing = False
    assert store.retry("supplier", "e2") is True
    worker.run_once()
    assert status(store, "e2") == "processed" and catalog.applied == {"sup-2": 1}


def test_unknown_types_are_processed_as_ignored(inbound, store) -> None:
    inbound.receive("supplier", *signed("e3", event(3, "supplier.mood_changed")))
    EventWorker(store, FakeCatalog(), [0], PACING).run_once()
    event_row = store.get("supplier", "e3")
    assert event_row.status == "processed" and "ignored" in event_row.last_error


def test_an_expired_lease_returns_the_event_to_pending(inbound, store, engine) -> None:
    inbound.receive("supplier", *signed("e4", event(4)))
    dead_worker = EventWorker(store, FakeCatalog(), [0], PACING, lease_seconds=-1)
    assert len(store.claim(dead_worker.owner, 10, -1)) == 1  # claimed, then the worker "died"
    assert status(store, "e4") == "processing"
    assert store.reap_expired_leases() == 1
    catalog = FakeCatalog()
    EventWorker(store, catalog, [0], PACING).run_once()
    assert status(store, "e4") == "processed" and catalog.applied == {"sup-4": 1}


def test_several_workers_apply_each_event_exactly_once(inbound, store, engine) -> None:
    for n in range(60):
        inbound.receive("supplier", *signed(f"m{n}", event(n)))
    catalog = FakeCatalog()
    workers = [EventWorker(store, catalog, [0], PACING, batch=5) for _ in range(4)]

    def drain(worker: EventWorker) -> None:
        while worker.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(catalog.applied.values()) == 60 and set(catalog.applied.values()) == {1}
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM inbound_events WHERE status = 'processed'")).scalar()
            == 60
        )


def test_graceful_stop_releases_unfinished_claims(inbound, store) -> None:
    inbound.receive("supplier", *signed("e5", event(5)))
    worker = EventWorker(store, FakeCatalog(), [0], PACING)
    store.claim(worker.owner, 10, 30)
    assert store.release(worker.owner) == 1
    assert status(store, "e5") == "pending" and store.get("supplier", "e5").attempts == 0
