"""Property: every plan answers every query exactly like a brute-force filter in Python."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
from collections.abc import Iterator
from decimal import Decimal

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from catalog_service.domain import product_from_row
from catalog_service.listing import planner
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.keyset import after_product
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import scan_within_window
from catalog_service.listing.statements import Plan
from catalog_service.listing.statistics import Statistics
from catalog_service.listing.text import index_words
from catalog_service.search import plan as bitmap_plan
from catalog_service.transport.requests import parse_list_request
from tests.integration.listing.listing_data import brute_force, demote, insert, snapshot
from tests.integration.listing.reading import chosen, forced

CODEC = CursorCodec(b"plans")
VOCABULARY = (
    "mango", "mangoes", "mandarin", "manure", "royal", "gala", "fresh", "farm", "farmer", "Ratnagiri",
    "Crème", "brûlée", "Straße", "ﬁg", "İstanbul", "आम", "मिर्च", "日本茶", "1kg", "1kilo", "o'clock",
    "e-mail", "under_score", "ÇAY", "çay", "honey", "honeydew", "123", "1234", "x", "ab", "Über",
    "angora", "andes", "arin", "oney", "234",
)  # fmt: skip
CATEGORIES = ("Fruits", "Vegetables", "Dairy", "Spices")
PRICES = tuple(Decimal(p) for p in ("1.00", "2.50", "2.50", "7.25", "10.00", "99.99"))
WORDS = sorted({w for v in VOCABULARY for w in index_words(v)})
PREFIXES = sorted({w[:n] for w in WORDS for n in range(3, len(w) + 1)} | {"zzz", "qqq1"})
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def product(rng: random.Random, i: int) -> dict[str, object]:
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 5))]
    separators = [" ", ", ", "-", "/", " & "]
    text = "".join(w + rng.choice(separators) for w in words)
    return {
        "external_id": f"p-{i}",
        "name": rng.choice(VOCABULARY).title() + f" {rng.choice(['pack', 'box'])}",
        "description": text,
        "category": rng.choice(CATEGORIES),
        "price": rng.choice(PRICES),
        "stock": 1,
        "created_at": dt.datetime(2025, 1, 1) + dt.timedelta(hours=rng.randrange(40)),
        "updated_at": dt.datetime(2025, 6, 1),
    }


@pytest.fixture(scope="module")
def catalog(listing_engine: Engine) -> Iterator[tuple[Engine, list]]:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    rng = random.Random(3)
    insert(listing_engine, [product(rng, i) for i in range(300)])
    demote(listing_engine, ["farm", "fresh", "mango"])  # common words: only SCAN can serve them
    yield listing_engine, snapshot(listing_engine)
    clear(listing_engine)


FILTERS = {
    "category": st.sampled_from([c.upper() for c in CATEGORIES]),
    "min_price": st.sampled_from(["1", "2.5", "7.25"]),
    "max_price": st.sampled_from(["2.50", "10", "99.99"]),
}
SORT = {
    "sort": st.sampled_from(["created_at", "price", "name"]),
    "order": st.sampled_from(["asc", "desc"]),
    "limit": st.integers(1, 12).map(str),
}
queries = st.fixed_dictionaries(
    {
        "q": st.lists(
            st.sampled_from(PREFIXES) | st.text("abdegimnory1234", min_size=3, max_size=4),
            min_size=1,
            max_size=3,
        ).map(" ".join),
        **SORT,
    },
    optional=FILTERS,
)
# Listings with a price range (what the windowed price-range SCAN serves), any sort.
price_listings = st.fixed_dictionaries(
    {**SORT, "min_price": FILTERS["min_price"]}, optional={"category": FILTERS["category"]}
) | st.fixed_dictionaries(
    {**SORT, "max_price": FILTERS["max_price"]},
    optional={"category": FILTERS["category"], "min_price": FILTERS["min_price"]},
)
WINDOWS = (1, 2, 5, 50)


def query_and_answer(rows: list, params: dict[str, str], start: float) -> tuple[ListQuery, list[int]]:
    """The query, started mid-walk when start > 0.3 (after a row of the answer), and the ids its
    page must return."""
    if Decimal(params.get("min_price", "0")) > Decimal(params.get("max_price", "100")):
        params["max_price"] = params["min_price"]
    query = parse_list_request(pb.ListProductsRequest(**params), CODEC)
    expected = brute_force(rows, query)
    if expected and start > 0.3:
        by_id = {r.id: r for r in rows}
        anchor = by_id[expected[int(start * (len(expected) - 1))]]
        after = after_product(query.sort, anchor)
        query = dataclasses.replace(query, after=after)
        expected = expected[expected.index(anchor.id) + 1 :]
    return query, expected[: query.limit + 1]


def ids(rows: list) -> list[int]:
    return [int(r[0]) for r in rows]  # page rows: PRODUCT_COLUMNS, id first


@SETTINGS
@given(params=queries, start=st.floats(0, 1))
def test_every_plan_matches_the_brute_force(catalog, params, start) -> None:
    engine, rows = catalog
    query, want = query_and_answer(rows, params, start)
    fetch = query.limit + 1
    with engine.connect() as conn:
        stats = Statistics.terms(conn, query.terms)
        plans = [Plan.SCAN, Plan.PRICE_RANGE] + ([Plan.POSTINGS] if any(s.indexed for s in stats) else [])
        for plan in plans:
            assert ids(forced(conn, query, plan, fetch)) == want, plan
        assert ids(bitmap_plan.search(conn, query, fetch) or []) == want, "bitmaps and buckets"
        assert ids(chosen(conn, query, fetch)) == want, "planner's choice"
        indexed = [s for s in stats if s.indexed]
        if indexed and all(s.words for s in stats):
            driver = Statistics.driver(conn, min(indexed, key=lambda s: s.df).term)
            for rows_, whole_scope in itertools.product(WINDOWS, (False, True)):
                window = planner.Window(rows_, Plan.POSTINGS, whole_scope)
                assert ids(scan_within_window(conn, query, fetch, window, driver)) == want, window


@SETTINGS
@given(params=price_listings, start=st.floats(0, 1))
def test_every_price_range_plan_matches_the_brute_force(catalog, params, start) -> None:
    """SCAN, PRICE_RANGE, and the windowed SCAN falling back to PRICE_RANGE, with windows small
    enough that the fallback answers most pages (a window counts every entry of the scope, in the
    range or not)."""
    engine, rows = catalog
    query, want = query_and_answer(rows, params, start)
    fetch = query.limit + 1
    with engine.connect() as conn:
        for plan in (Plan.SCAN, Plan.PRICE_RANGE):
            assert ids(forced(conn, query, plan, fetch)) == want, plan
        assert ids(chosen(conn, query, fetch)) == want, "planner's choice"
        for rows_ in WINDOWS:
            window = planner.Window(rows_, Plan.PRICE_RANGE, whole_scope=True)
            assert ids(scan_within_window(conn, query, fetch, window)) == want, window


@pytest.mark.parametrize(
    "estimate",
    [1, 5, 40, 10_000],  # tiny estimates make every window end early on this 300-product catalog
)
def test_the_planners_price_range_choices_walk_to_the_brute_force(catalog, monkeypatch, estimate) -> None:
    """Through fetch_rows and the planner: a windowed SCAN is chosen whatever the range (the range
    estimate is forced and the thresholds lowered), and every page still matches."""
    engine, rows = catalog
    monkeypatch.setattr(planner, "PRICE_RANGE_MAX_ROWS", 0)
    monkeypatch.setattr(planner, "PLAIN_SCAN_MIN_SHARE", 2.0)
    monkeypatch.setattr(planner, "MIN_WINDOW", 1)
    monkeypatch.setattr(Statistics, "price_range_rows", lambda self, conn, query: estimate)
    for sort, order, category in itertools.product(("created_at", "name"), ("asc", "desc"), ("", "fruits")):
        params = {"min_price": "2.5", "max_price": "10", "sort": sort, "order": order, "limit": "7"}
        if category:
            params["category"] = category
        query = parse_list_request(pb.ListProductsRequest(**params), CODEC)
        expected = brute_force(rows, query)
        with engine.connect() as conn:
            choice = planner.choose(query, Statistics().facts(conn, query))
            assert choice.window is not None and choice.window.whole_scope
            seen: list[int] = []
            while True:
                page = chosen(conn, query, query.limit + 1)
                seen += ids(page[: query.limit])
                if len(page) <= query.limit:
                    break
                last = product_from_row(page[query.limit - 1])
                after = after_product(query.sort, last)
                query = dataclasses.replace(query, after=after)
        assert seen == expected, (sort, order, category)


def test_the_dataset_exercises_both_kinds_of_words(catalog) -> None:
    engine, _rows = catalog
    with engine.connect() as conn:
        stats = Statistics.terms(conn, ("man", "mango", "mand", "cre", "आम", "zzz"))
    by_term = {s.term: s for s in stats}
    assert not by_term["man"].indexed and not by_term["mango"].indexed  # 'mango' has no postings
    assert by_term["mand"].indexed and by_term["cre"].indexed and by_term["आम"].indexed
    assert by_term["zzz"].words == 0


@pytest.mark.parametrize("sort", ["created_at", "price", "name"])
def test_every_single_prefix_whole_answer_by_every_plan(catalog, sort) -> None:
    """Exhaustive over the vocabulary's prefixes: catches duplicates from multi-word prefixes."""
    engine, rows = catalog
    with engine.connect() as conn:
        for prefix in PREFIXES:
            query = parse_list_request(pb.ListProductsRequest(q=prefix, sort=sort, limit="100"), CODEC)
            want = brute_force(rows, query)[:101]
            stats = Statistics.terms(conn, query.terms)
            plans = [Plan.SCAN] + ([Plan.POSTINGS] if stats[0].indexed and stats[0].words else [])
            for plan in plans:
                got = ids(forced(conn, query, plan, 101))
                assert got == want, (prefix, plan)
