"""Concurrent writers keep the search bitmaps and buckets exact: bucket splits (under the sort's
exclusive lock) racing with writers placing products (under its shared lock), deadlocks retried as
ProductWriter retries them."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, bindparam, create_engine, text
from sqlalchemy.exc import DBAPIError

from catalog_service.listing.indexer import SearchIndexer
from catalog_service.search import bitmaps, buckets, build
from tests.integration.listing.test_search_bitmap_plan import PRICES, check_buckets, named_sets, product

THREADS = 4
TRANSACTIONS = 8


@pytest.fixture
def writer_engine(listing_url: str, listing_engine: Engine) -> Iterator[Engine]:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    engine = create_engine(listing_url, isolation_level="READ COMMITTED", pool_size=THREADS + 1)
    yield engine
    engine.dispose()
    clear(listing_engine)


def retried(engine: Engine, work) -> None:  # type: ignore[no-untyped-def]
    for attempt in range(20):
        try:
            with engine.begin() as conn:
                work(conn)
            return
        except DBAPIError as error:
            if error.orig is None or error.orig.args[0] not in (1213, 1205):  # deadlock, lock wait
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("a write kept deadlocking")


def test_concurrent_inserts_updates_and_splits_stay_exact(writer_engine, monkeypatch) -> None:
    monkeypatch.setattr(buckets, "BUCKET_SIZE", 3)
    monkeypatch.setattr(buckets, "SPLIT_AT", 6)
    monkeypatch.setattr(bitmaps, "PREFIX_MAX_WORDS", 3)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            for t in range(TRANSACTIONS):
                rows = [product(rng, n * 1000 + t * 10 + i) for i in range(5)]

                def work(conn, rows=rows) -> None:  # type: ignore[no-untyped-def]
                    conn.execute(
                        text(
                            "INSERT INTO products (external_id, name, description, category, price, stock,"
                            " created_at, updated_at) VALUES (:external_id, :name, :description, :category,"
                            " :price, :stock, :created_at, :updated_at)"
                        ),
                        rows,
                    )
                    ids = [
                        int(r[0])
                        for r in conn.execute(
                            text("SELECT id FROM products WHERE external_id IN :e").bindparams(
                                bindparam("e", expanding=True)
                            ),
                            {"e": [r["external_id"] for r in rows]},
                        )
                    ]
                    others = [
                        int(r[0])
                        for r in conn.execute(text("SELECT id FROM products ORDER BY RAND() LIMIT 2"))
                    ]
                    for other in others:  # move existing products between price buckets
                        conn.execute(
                            text("UPDATE products SET price = :p WHERE id = :i"),
                            {"p": rng.choice(PRICES) + Decimal(rng.randint(0, 3)), "i": other},
                        )
                    SearchIndexer().reindex(conn, sorted(set(ids) | set(others)))

                retried(writer_engine, work)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with writer_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM products")).scalar_one() == THREADS * TRANSACTIONS * 5
        check_buckets(conn)
        written = named_sets(conn)
        assert conn.execute(text("SELECT COUNT(*) FROM search_buckets")).scalar_one() > 3 * 10
        conn.rollback()
    with writer_engine.begin() as conn:
        build.rebuild(conn)
    with writer_engine.connect() as conn:
        assert named_sets(conn) == written
