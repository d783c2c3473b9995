"""The catalog write path: transactions with outbox rows, generation bumps, validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from catalog_service.listing.indexer import SearchIndexer
from catalog_service.product_input import product_fields
from catalog_service.response_cache import CacheSettings, ResponseCache
from catalog_service.writes import ProductWriter, Selector
from farmlokal_common.errors import FailedPrecondition, InvalidArgument, NotFound


@pytest.fixture
def engine(migrated) -> Iterator[Engine]:
    engine = create_engine(migrated.service_url("catalog"), isolation_level="READ COMMITTED", pool_size=16)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM catalog_outbox"))
        conn.execute(text("DELETE FROM products WHERE external_id LIKE 'w-%'"))
    yield engine
    engine.dispose()


@pytest.fixture
def writer(engine: Engine, redis_client: redis.Redis) -> ProductWriter:
    return ProductWriter(
        engine, ResponseCache(redis_client, CacheSettings("catalog")), hooks=[SearchIndexer()]
    )


def mango(price: str = "499.00", stock: int = 12, ext: str = "w-mango"):
    return product_fields(ext, "Organic Alphonso Mango 1kg", "Sweet ripe mangoes", "Fruits", price, stock)


def outbox(engine: Engine) -> list[tuple[str, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type, payload FROM catalog_outbox ORDER BY id")).fetchall()
    return [(r.event_type, json.loads(r.payload)) for r in rows]


def generation(client: redis.Redis) -> int:
    return int(client.hget("{catalog}:generation", "n") or 0)


def test_upsert_creates_updates_and_skips_unchanged(writer, engine, redis_client) -> None:
    first = writer.upsert([mango(), mango(ext="w-apple")])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert generation(redis_client) == 1
    again = writer.upsert([mango(), mango(ext="w-apple", price="5.50")])
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    events = outbox(engine)
    assert [e for e, _ in events] == ["product.created", "product.created", "product.updated"]
    assert events[-1][1]["price"] == "5.50" and events[-1][1]["external_id"] == "w-apple"
    assert generation(redis_client) == 2


def test_stock_never_goes_below_zero_and_nothing_is_written(writer, engine) -> None:
    writer.upsert([mango(stock=3)])
    before = outbox(engine)
    with pytest.raises(FailedPrecondition, match="stock"):
        writer.adjust_stock(Selector(external_id="w-mango"), -4)
    assert outbox(engine) == before
    assert writer.adjust_stock(Selector(external_id="w-mango"), -3).stock == 0
    with pytest.raises(InvalidArgument, match="at most"):
        writer.adjust_stock(Selector(external_id="w-mango"), 2**31 - 1)


def test_update_and_delete_append_to_the_outbox(writer, engine) -> None:
    writer.upsert([mango()])
    updated = writer.update(Selector(external_id="w-mango"), {"price": Decimal("450.00"), "name": None})
    assert updated.price == Decimal("450.00") and updated.name == "Organic Alphonso Mango 1kg"
    assert writer.delete(Selector(external_id="w-mango")) is True
    assert writer.delete(Selector(external_id="w-mango")) is False
    assert [e for e, _ in outbox(engine)][-2:] == ["product.updated", "product.deleted"]
    with pytest.raises(NotFound):
        writer.update(Selector(external_id="w-mango"), {"stock": 1})


def test_bad_fields_are_all_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as info:
        product_fields("bad id!", "", "x", "Fruits", "-1", -5)
    fields = {v.field for v in info.value.violations}
    assert fields == {"external_id", "name", "price", "stock"}
    with pytest.raises(InvalidArgument, match="at most 2 decimals"):
        product_fields("ok", "n", "d", "c", "1.005", 1)


def test_concurrent_upserts_of_the_same_new_products_neither_fail_nor_duplicate(writer, engine) -> None:
    """Writers racing to create the same products (sync and webhooks at once) all succeed, once each."""
    from concurrent.futures import ThreadPoolExecutor

    batch = [mango(ext=f"w-race-{n}", price=f"{n}.00") for n in range(20)]

    def write(i: int):
        return writer.upsert(batch[i % 5 :] + batch[: i % 5])  # same products, different lock order

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(16)))
    assert sum(r.created for r in results) == 20
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM products WHERE external_id LIKE 'w-race-%'")).scalar()
            == 20
        )
