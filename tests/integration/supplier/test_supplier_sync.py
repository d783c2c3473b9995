"""Sync from the real sandbox supplier into a real catalog schema, through the catalog's write path."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import ProductReader
from catalog_service.supplier.client import SupplierItem, SupplierPage
from catalog_service.supplier.periodic import PeriodicSync
from catalog_service.supplier.status import SyncStore
from catalog_service.supplier.sync import SyncBusy
from tests.integration.supplier.conftest import PRODUCTS


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar())


def test_first_sync_is_full_and_the_second_finds_everything_unchanged(
    sandbox, make_sync, catalog_engine, redis_client
) -> None:
    sync = make_sync()
    first = sync.run()
    s = first.summary
    assert (first.mode, first.error) == ("full", "")
    assert (s.fetched, s.created, s.updated, s.unchanged, s.failed) == (PRODUCTS, PRODUCTS, 0, 0, 0)
    assert s.breaker_state == "closed" and s.duration_ms > 0
    assert count(catalog_engine, "SELECT COUNT(*) FROM products WHERE external_id LIKE 'sup-%'") == PRODUCTS
    assert (
        count(catalog_engine, "SELECT COUNT(*) FROM catalog_outbox WHERE event_type = 'product.created'")
        == PRODUCTS
    )
    generation = int(redis_client.hget("{catalog}:generation", "n"))

    second = sync.run()
    s = second.summary
    assert second.mode == "incremental"
    assert (s.created, s.updated, s.failed) == (0, 0, 0) and s.unchanged == s.fetched >= 1
    assert s.fetched <= 1  # only the product at the watermark instant is read again
    assert count(catalog_engine, "SELECT COUNT(*) FROM catalog_outbox") == PRODUCTS
    assert int(redis_client.hget("{catalog}:generation", "n")) == generation + 1  # one (unchanged) batch


def test_a_changed_supplier_product_appears_in_the_listing_after_the_next_sync(
    sandbox, make_sync, catalog_engine
) -> None:
    sync = make_sync()
    sync.run()
    reader = ProductReader(catalog_engine)
    changed = sandbox.mutate(5)
    served = sandbox.product(changed[0])
    price = Decimal(served["price"])
    query = ListQuery(limit=100, category=served["category"], min_price=price, max_price=price, sort="price")

    def listed() -> dict[str, Decimal]:
        return {p.external_id: p.price for p in reader.list_page(query).products}

    assert changed[0] not in listed()  # the catalog still has the old price
    run = sync.run()
    assert (run.summary.updated, run.summary.created, run.summary.failed) == (5, 0, 0)
    assert listed()[changed[0]] == price
    events = count(catalog_engine, "SELECT COUNT(*) FROM catalog_outbox WHERE event_type = 'product.updated'")
    assert events == 5


def test_changes_during_a_walk_are_neither_lost_nor_make_others_vanish(
    sandbox, make_sync, catalog_engine
) -> None:
    """Page-number paging would skip a product each time one ahead of the cursor moves to the end."""
    sync = make_sync(page_size=100)
    original = sync._client.fetch_page
    calls = {"n": 0}

    def fetch_and_mutate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] in (2, 4):
            sandbox.mutate(7)  # the oldest products (some already read, some not) move to the end
        return original(*args, **kwargs)

    sync._client.fetch_page = fetch_and_mutate
    run = sync.run()
    assert run.error == "" and run.summary.created == PRODUCTS
    assert count(catalog_engine, "SELECT COUNT(*) FROM products") == PRODUCTS


def test_an_open_breaker_ends_the_sync_at_once_with_the_reason(sandbox, make_sync, make_client) -> None:
    client = make_client(fail_max=2, reset=30)
    sync = make_sync(client)
    sandbox.fault("error", count=100, status=503)
    failed = sync.run()
    assert failed.summary.breaker_state == "open" and "supplier_api is unavailable" in failed.error
    hits = sandbox.stats()["total"]
    started = time.monotonic()
    refused = sync.run()
    assert time.monotonic() - started < 0.5
    assert sandbox.stats()["total"] == hits  # no request reached the supplier
    assert refused.summary.breaker_state == "open" and refused.summary.fetched == 0
    assert "circuit breaker open" in refused.error
    state, last = sync.status()
    assert state == "open" and last is not None and "circuit breaker open" in last.error


def test_one_sync_at_a_time_across_replicas(sandbox, make_sync) -> None:
    one, two = make_sync(), make_sync()
    sandbox.fault("latency", latency_ms=400)
    results: list[object] = []

    def run(sync) -> None:
        try:
            results.append(sync.run())
        except SyncBusy as busy:
            results.append(busy)

    threads = [threading.Thread(target=run, args=(s,)) for s in (one, two)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert sum(isinstance(r, SyncBusy) for r in results) == 1


def test_the_periodic_sync_skips_when_a_recent_run_exists(sandbox, make_sync, catalog_engine) -> None:
    sync = make_sync()
    periodic = PeriodicSync(sync, SyncStore(catalog_engine), interval_seconds=60)
    assert periodic.tick() is True
    assert periodic.tick() is False  # another replica (or this one) ran less than an interval ago
    assert SyncStore(catalog_engine).latest().trigger == "periodic"


def test_unreadable_or_invalid_products_are_counted_as_failed(make_sync, catalog_engine) -> None:
    at = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    good = SupplierItem("x-1", "Good Mango", "", "Fruits", "10.00", 1, at)
    bad = SupplierItem("x-2", "Bad Price", "", "Fruits", "ten", 1, at)

    class OnePage:
        breaker_state = "closed"

        def fetch_page(self, *args, **kwargs):
            return SupplierPage([good, bad], [("x-3", "unreadable entry: KeyError")], has_more=False)

    run = make_sync(OnePage()).run()
    s = run.summary
    assert (s.fetched, s.created, s.failed) == (3, 1, 2)
    assert count(catalog_engine, "SELECT COUNT(*) FROM products") == 1


@pytest.mark.parametrize("full", [False, True])
def test_status_reports_the_last_run(sandbox, make_sync, full) -> None:
    sync = make_sync()
    assert sync.status() == ("closed", None)
    sync.run(full=full)
    state, last = sync.status()
    assert state == "closed" and last.summary.created == PRODUCTS and last.error == ""
    assert last.finished_at >= last.started_at
