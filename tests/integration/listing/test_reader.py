"""One product, category counts, and the indexer keeping search and counts in step with writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import Engine, text

from catalog_service.domain import CategoryCount
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.reader import ProductReader
from catalog_service.listing.statements import Plan
from catalog_service.transport.requests import parse_list_request
from tests.integration.listing.listing_data import delete, insert
from tests.integration.listing.reading import forced

CODEC = CursorCodec(b"reader")


@pytest.fixture
def engine(listing_engine: Engine) -> Engine:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    return listing_engine


def row(ext: str, name: str, category: str, price: str = "10.00", description: str = "plain") -> dict:
    return {
        "external_id": ext,
        "name": name,
        "description": description,
        "category": category,
        "price": Decimal(price),
        "stock": 3,
        "created_at": dt.datetime(2025, 3, 1, 10, 0, 0, 123456),
        "updated_at": dt.datetime(2025, 3, 2),
    }


def search(engine: Engine, q: str, plan: Plan | None = None, **params: str) -> list[int]:
    query = parse_list_request(pb.ListProductsRequest(q=q, **params), CODEC)
    with engine.connect() as conn:
        return [int(r[0]) for r in forced(conn, query, plan, 50)]  # page rows: PRODUCT_COLUMNS, id first


def test_get_returns_the_product_in_utc_or_none(engine) -> None:
    [product_id] = insert(engine, [row("g-1", "Kesar Mango 1kg", "Fruits", "499.00")])
    reader = ProductReader(engine)
    record = reader.get(product_id)
    assert record is not None
    assert (record.name, record.price, record.external_id) == ("Kesar Mango 1kg", Decimal("499.00"), "g-1")
    assert record.created_at == dt.datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert reader.get(product_id + 1000) is None


def test_categories_are_counted_sorted_and_kept_up_to_date(engine) -> None:
    ids = insert(
        engine,
        [
            row("c-1", "a", "Vegetables"),
            row("c-2", "b", "fruits"),
            row("c-3", "c", "Fruits"),
            row("c-4", "d", "Dairy"),
        ],
    )
    reader = ProductReader(engine)
    # One category case-insensitively (as the category filter matches); one of its spellings is shown.
    assert [(c.name.casefold(), c.product_count) for c in reader.categories()] == [
        ("dairy", 1),
        ("fruits", 2),
        ("vegetables", 1),
    ]
    delete(engine, [ids[3]])
    with engine.begin() as conn:
        conn.execute(text("UPDATE products SET category = 'Herbs' WHERE id = :id"), {"id": ids[0]})
        SearchIndexer().reindex(conn, [ids[0]])
    assert [(c.name.casefold(), c.product_count) for c in reader.categories()] == [
        ("fruits", 2),
        ("herbs", 1),
    ]
    assert all(isinstance(c, CategoryCount) for c in reader.categories())


def test_updates_move_a_product_between_words_and_keep_postings_current(engine) -> None:
    [pid] = insert(engine, [row("u-1", "Alphonso Mango", "Fruits", "100.00", "from Ratnagiri")])
    insert(engine, [row(f"u-{i}", "Other", "Fruits", "5.00", "filler words") for i in range(2, 6)])
    for plan in (Plan.SCAN, Plan.POSTINGS):
        assert search(engine, "alphon ratna", plan) == [pid]
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET name = 'Kesar Mango', description = 'from Gir', price = 7, category = 'Dairy'"
                " WHERE id = :id"
            ),
            {"id": pid},
        )
        SearchIndexer().reindex(conn, [pid])
    for plan in (Plan.SCAN, Plan.POSTINGS):
        assert search(engine, "alphonso", plan if plan is Plan.SCAN else None) == []
        assert search(engine, "kesar", plan) == [pid]
        assert search(engine, "kesar", plan, category="dairy", max_price="7") == [pid]
        assert search(engine, "kesar", plan, category="fruits") == []
        assert search(engine, "mango", plan, min_price="8") == []
    with engine.connect() as conn:
        df = dict(conn.execute(text("SELECT word, df FROM search_words")).fetchall())
    assert df["alphonso"] == 0 and df["kesar"] == 1 and df["mango"] == 1 and df["filler"] == 4
    delete(engine, [pid])
    assert search(engine, "kesar") == [] and search(engine, "filler", Plan.POSTINGS) != []


def test_long_words_are_found_by_any_prefix(engine) -> None:
    """Vocabulary words are cut at 64 characters; longer terms are re-tested on the full text."""
    long_word = "super" + "x" * 80
    [first] = insert(engine, [row("l-1", "Long", "Fruits", description=f"a {long_word} b")])
    [second] = insert(engine, [row("l-2", "Other", "Fruits", description="super" + "x" * 60 + "y")])
    both, only_first = [second, first], [first]  # equal created_at: id descending
    cases = {"super": both, long_word[:64]: both, long_word[:70]: only_first, long_word: only_first}
    for q, expected in cases.items():
        for plan in (Plan.SCAN, Plan.POSTINGS, None):
            assert search(engine, q, plan) == expected, (len(q), plan)
