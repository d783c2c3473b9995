"""The catalog read path as the servicer uses it: real reader, real cache, real writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import Engine, create_engine, text

from catalog_service.catalog import Catalog
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.reader import ProductReader
from catalog_service.product_input import product_fields
from catalog_service.response_cache import CacheSettings, ResponseCache
from catalog_service.transport.presenters import CachedResponses
from catalog_service.transport.requests import parse_list_request
from catalog_service.writes import ProductWriter
from farmlokal_common.errors import NotFound

CURSORS = CursorCodec(b"test-secret")


class CountingReader(ProductReader):
    """The real reader, counting how often listing reaches the database."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.list_calls = 0
        self._lock = threading.Lock()

    def list_page(self, query, floor=None):  # type: ignore[no-untyped-def]
        with self._lock:
            self.list_calls += 1
        return super().list_page(query, floor)


@pytest.fixture
def engine(migrated) -> Iterator[Engine]:
    engine = create_engine(migrated.service_url("catalog"), pool_size=20)
    with engine.begin() as conn:
        for table in (
            "search_postings",
            "product_search",
            "search_words",
            "category_counts",
            "catalog_outbox",
            "products",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    yield engine
    engine.dispose()


@pytest.fixture
def cache(redis_server, redis_client) -> ResponseCache:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=0.3, socket_connect_timeout=0.3)
    return ResponseCache(client, CacheSettings("catalog", redis_backoff_seconds=0.2))


@pytest.fixture
def writer(engine: Engine, cache: ResponseCache) -> ProductWriter:
    writer = ProductWriter(engine, cache, hooks=[SearchIndexer()])
    writer.upsert(
        [
            product_fields(
                f"p-{n}", f"Organic Mango {n}", "sweet ripe alphonso", "Fruits", f"{100 + n}.00", n
            )
            for n in range(30)
        ]
    )
    return writer


def listed(catalog: Catalog, q) -> pb.ListProductsResponse:  # type: ignore[no-untyped-def]
    return pb.ListProductsResponse.FromString(catalog.list_products(q))


def query(**params: str):
    return parse_list_request(pb.ListProductsRequest(**params), CURSORS)


def test_two_hundred_concurrent_cold_requests_cause_one_database_query(engine, cache, writer) -> None:
    reader = CountingReader(engine)
    catalog = Catalog(reader, cache, CachedResponses(CURSORS))
    barrier = threading.Barrier(40)

    def request(i: int) -> pb.ListProductsResponse:
        if i < 40:
            barrier.wait()
        return listed(catalog, query(q="mango", sort="price", order="asc"))

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(request, range(200)))
    assert reader.list_calls == 1
    assert all(r == responses[0] for r in responses) and len(responses[0].products) == 20


def test_a_write_is_visible_to_the_next_listing_read(engine, cache, writer) -> None:
    catalog = Catalog(ProductReader(engine), cache, CachedResponses(CURSORS))
    before = listed(catalog, query(q="durian"))
    assert list(before.products) == []
    writer.upsert([product_fields("p-new", "Musang King Durian", "creamy", "Fruits", "999.00", 3)])
    after = listed(catalog, query(q="durian"))
    assert [p.name for p in after.products] == ["Musang King Durian"]
    writer.upsert([product_fields("p-new", "Musang King Durian", "creamy", "Fruits", "899.00", 3)])
    assert listed(catalog, query(q="durian")).products[0].price == "899.00"


def test_listing_answers_while_redis_is_stopped_and_caches_again_after(
    engine, cache, writer, redis_server
) -> None:
    reader = CountingReader(engine)
    catalog = Catalog(reader, cache, CachedResponses(CURSORS))
    expected = listed(catalog, query(category="fruits"))
    redis_server.stop()
    try:
        with ThreadPoolExecutor(8) as pool:
            during = list(pool.map(lambda _: listed(catalog, query(category="fruits")), range(16)))
        assert all(r == expected for r in during)
    finally:
        redis_server.start()
    import time

    time.sleep(0.3)
    calls = reader.list_calls
    listed(catalog, query(category="FRUITS"))
    listed(catalog, query(category="Fruits"))
    assert reader.list_calls - calls <= 1  # cached again once Redis is back


def test_get_product_and_categories(engine, cache, writer) -> None:
    catalog = Catalog(ProductReader(engine), cache, CachedResponses(CURSORS))
    first = listed(catalog, query(sort="price", order="asc")).products[0]
    assert catalog.get_product(first.id).name == first.name
    with pytest.raises(NotFound):
        catalog.get_product(10**12)
    assert [
        (c.name, c.product_count)
        for c in pb.ListCategoriesResponse.FromString(catalog.list_categories()).categories
    ] == [("Fruits", 30)]
