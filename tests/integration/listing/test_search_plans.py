"""Property: every plan answers every query exactly like a brute-force filter in Python."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from catalog_service.listing import planner
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.plans import Plan
from catalog_service.listing.query import keyset_of, parse_list_request
from catalog_service.listing.repository import fetch_rows, scan_within_window
from catalog_service.listing.text import index_words
from tests.integration.listing.listing_data import brute_force, demote, insert, snapshot

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


queries = st.fixed_dictionaries(
    {
        "q": st.lists(
            st.sampled_from(PREFIXES) | st.text("abdegimnory1234", min_size=3, max_size=4),
            min_size=1,
            max_size=3,
        ).map(" ".join),
        "sort": st.sampled_from(["created_at", "price", "name"]),
        "order": st.sampled_from(["asc", "desc"]),
        "limit": st.integers(1, 12).map(str),
    },
    optional={
        "category": st.sampled_from([c.upper() for c in CATEGORIES]),
        "min_price": st.sampled_from(["1", "2.5", "7.25"]),
        "max_price": st.sampled_from(["2.50", "10", "99.99"]),
    },
)


@SETTINGS
@given(params=queries, start=st.floats(0, 1))
def test_every_plan_matches_the_brute_force(catalog, params, start) -> None:
    engine, rows = catalog
    if Decimal(params.get("min_price", "0")) > Decimal(params.get("max_price", "100")):
        params["max_price"] = params["min_price"]
    query = parse_list_request(pb.ListProductsRequest(**params), CODEC)
    expected = brute_force(rows, query)
    # Start mid-walk too: after a random row of the answer (or of the whole table).
    if expected and start > 0.3:
        by_id = {r.id: r for r in rows}
        anchor = by_id[expected[int(start * (len(expected) - 1))]]
        after = keyset_of(query.sort, anchor.created_at, anchor.price, anchor.name, anchor.id)
        query = dataclasses.replace(query, after=after)
        expected = expected[expected.index(anchor.id) + 1 :]
    want = expected[: query.limit + 1]
    with engine.connect() as conn:
        stats = planner.term_stats(conn, query.terms)
        plans = [Plan.SCAN, Plan.PRICE_RANGE] + ([Plan.POSTINGS] if any(s.indexed for s in stats) else [])
        for plan in plans:
            got = [int(r.id) for r in fetch_rows(conn, query, query.limit + 1, force=plan)]
            assert got == want, plan
        assert [int(r.id) for r in fetch_rows(conn, query, query.limit + 1)] == want, "planner's choice"
        indexed = [s for s in stats if s.indexed]
        if indexed and all(s.words for s in stats):
            driver = planner.driver(conn, min(indexed, key=lambda s: s.df).term)
            for window in (1, 2, 5, 50):
                got = [int(r.id) for r in scan_within_window(conn, query, query.limit + 1, window, driver)]
                assert got == want, f"window {window}"


def test_the_dataset_exercises_both_kinds_of_words(catalog) -> None:
    engine, _rows = catalog
    with engine.connect() as conn:
        stats = planner.term_stats(conn, ("man", "mango", "mand", "cre", "आम", "zzz"))
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
            stats = planner.term_stats(conn, query.terms)
            plans = [Plan.SCAN] + ([Plan.POSTINGS] if stats[0].indexed and stats[0].words else [])
            for plan in plans:
                got = [int(r.id) for r in fetch_rows(conn, query, 101, force=plan)]
                assert got == want, (prefix, plan)
