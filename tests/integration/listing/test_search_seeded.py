"""The seeder builds the search bitmaps and buckets: exact against the brute force, each bucket
holding its range, and writes after the seed keep them equal to a rebuild."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import Engine, text

from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.search import build, limits, plan
from catalog_service.search.bitmaps import Reads
from catalog_service.seed.loader import loader_engine, seed
from catalog_service.transport.requests import parse_list_request
from tests.integration.listing.conftest import create_schema
from tests.integration.listing.listing_data import brute_force, snapshot
from tests.integration.listing.test_search_bitmap_plan import check_buckets, named_sets

CODEC = CursorCodec(b"seeded")


@pytest.fixture(scope="module")
def seeded(mariadb) -> Iterator[Engine]:
    engine = loader_engine(create_schema(mariadb.root_url, "search_seed_tests"))
    report = seed(engine, 3000, seed_number=2, reset=True, workers=1)
    assert report.products == 3000
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "q,sort,order,extra",
    list(
        itertools.product(
            ["fresh", "source around", "fre qua", "mango", "organic", "from and fresh quality"],
            ["created_at", "price", "name"],
            ["asc", "desc"],
            [{}, {"category": "fruits"}, {"min_price": "40", "max_price": "400"}],
        )
    ),
)
def test_seeded_structures_answer_exactly(seeded, monkeypatch, q, sort, order, extra) -> None:
    monkeypatch.setattr(limits, "DIRECT_MAX", 0)  # the buckets on every query
    rows = snapshot(seeded)
    query = parse_list_request(
        pb.ListProductsRequest(q=q, sort=sort, order=order, limit="30", **extra), CODEC
    )
    with seeded.connect() as conn:
        reads = Reads()
        got = plan.search(conn, query, 31, reads)
    assert got is not None and [int(r[0]) for r in got] == brute_force(rows, query)[:31], reads.steps


def test_seeded_buckets_hold_their_ranges_and_writes_keep_a_rebuilds_sets(seeded) -> None:
    with seeded.connect() as conn:
        check_buckets(conn)
    with seeded.begin() as conn:
        conn.execute(
            text(
                "UPDATE products SET description = 'zanzibar cloves around', price = price + 7 WHERE id <= 40"
            )
        )
        SearchIndexer().reindex(conn, list(range(1, 41)))
    with seeded.connect() as conn:
        check_buckets(conn)
        kept = named_sets(conn)
        conn.rollback()
    with seeded.begin() as conn:
        build.rebuild(conn)
    with seeded.connect() as conn:
        assert named_sets(conn) == kept
