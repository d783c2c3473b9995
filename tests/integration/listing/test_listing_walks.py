"""Walking every page of every query shape returns exactly the brute-force answer, ties included."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterator

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import Engine

from catalog_service.domain import product_from_row
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.keyset import after_product
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import ProductReader
from catalog_service.listing.statements import Plan
from catalog_service.transport.requests import parse_list_request
from tests.integration.listing.listing_data import brute_force, delete, demote, heavy_ties, insert, snapshot
from tests.integration.listing.reading import forced, next_cursor

FILTERS = {
    "none": {},
    "category": {"category": "fRUITS"},
    "price": {"min_price": "2.5", "max_price": "10"},
    "both": {"category": "dairy", "min_price": "1.00", "max_price": "2.50"},
}
SEARCHES = {"no q": {}, "q": {"q": "man"}, "q2": {"q": "FRESH mang"}}
CODEC = CursorCodec(b"walk-secret")


@pytest.fixture(scope="module")
def tied_catalog(listing_engine: Engine) -> Iterator[Engine]:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    insert(listing_engine, heavy_ties(random.Random(7), 400))
    demote(listing_engine, ["fresh"])  # a common word without postings: only SCAN serves it
    yield listing_engine
    clear(listing_engine)


def walk_api(reader: ProductReader, params: dict[str, str], rng: random.Random) -> list[int]:
    seen: list[int] = []
    cursor = ""
    for _ in range(1000):
        limit = rng.randint(1, 9)
        query = parse_list_request(pb.ListProductsRequest(**params, limit=str(limit), cursor=cursor), CODEC)
        page = reader.list_page(query)
        assert len(page.products) <= limit
        seen += [p.id for p in page.products]
        if not page.has_more:
            return seen
        assert len(page.products) == limit
        cursor = next_cursor(CODEC, query, page)
        assert bool(cursor) == page.has_more
    raise AssertionError("the walk did not end")


def walk_plan(engine: Engine, query: ListQuery, plan: Plan) -> list[int]:
    seen: list[int] = []
    with engine.connect() as conn:
        while True:
            rows = forced(conn, query, plan, query.limit + 1)
            products = [product_from_row(r) for r in rows[: query.limit]]
            seen += [p.id for p in products]
            if len(rows) <= query.limit:
                return seen
            last = products[-1]
            after = after_product(query.sort, last)
            query = dataclasses.replace(query, after=after)


CASES = list(itertools.product(FILTERS, SEARCHES, ("created_at", "price", "name"), ("desc", "asc")))


@pytest.mark.parametrize(("filters", "search", "sort", "order"), CASES)
def test_every_shape_walks_to_the_brute_force_answer(tied_catalog, filters, search, sort, order) -> None:
    params = {**FILTERS[filters], **SEARCHES[search], "sort": sort.upper(), "order": order.title()}
    expected = brute_force(
        snapshot(tied_catalog), parse_list_request(pb.ListProductsRequest(**params), CODEC)
    )
    assert expected, "the dataset must give every shape something to walk"

    reader = ProductReader(tied_catalog)
    assert walk_api(reader, params, random.Random(hash((filters, search, sort, order)))) == expected

    query = parse_list_request(pb.ListProductsRequest(**params, limit="4"), CODEC)
    plans = [Plan.SCAN, Plan.PRICE_RANGE] + ([Plan.POSTINGS] if query.terms else [])
    for plan in plans:
        assert walk_plan(tied_catalog, query, plan) == expected, plan


def test_heavy_ties_really_are_heavy(tied_catalog) -> None:
    rows = snapshot(tied_catalog)
    assert len({r.price for r in rows}) <= 5 and len({r.created_at for r in rows}) == 3
    assert len({r.name_weight for r in rows}) < len({r.name for r in rows})  # apple = Apple = APPLE


def test_inserts_and_deletes_during_a_walk_neither_repeat_nor_hide_other_rows(listing_engine) -> None:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    rng = random.Random(11)
    alive = set(insert(listing_engine, heavy_ties(rng, 150, prefix="w")))
    reader = ProductReader(listing_engine)
    for sort, order in itertools.product(("created_at", "price", "name"), ("asc", "desc")):
        at_start, deleted, inserted = set(alive), set(), set()
        seen: list[int] = []
        cursor, batch = "", 0
        while True:
            params = {"sort": sort, "order": order, "limit": "7", "cursor": cursor}
            query = parse_list_request(pb.ListProductsRequest(**params), CODEC)
            page = reader.list_page(query)
            seen += [p.id for p in page.products]
            if not page.has_more:
                break
            cursor, batch = next_cursor(CODEC, query, page), batch + 1
            # New rows land anywhere in the order (heavy ties), and rows on both sides of the
            # cursor disappear: already seen ones and ones still ahead.
            new = insert(listing_engine, heavy_ties(rng, 3, prefix=f"w-{sort}-{order}-{batch}"))
            inserted.update(new)
            victims = rng.sample(sorted(alive - set(new)), k=2)
            delete(listing_engine, victims)
            deleted.update(victims)
            alive = (alive | set(new)) - set(victims)
        assert len(seen) == len(set(seen)), "a product repeated"
        assert at_start - deleted <= set(seen), "a product that was there all along was skipped"
        assert set(seen) <= at_start | inserted
