"""The bitmap/bucket search plan (catalog_service.search): exact against the brute force on random
queries drawn to be anti-correlated and correlated with the sort, with buckets small enough that a
page spans many of them; the structures the write path keeps equal a rebuild; the rows and index
entries a crafted worst case reads stay within the stated bound."""

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
from pyroaring import BitMap
from sqlalchemy import Connection, Engine, text

from catalog_service.domain import product_from_row
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.keyset import after_product
from catalog_service.listing.query import ListQuery
from catalog_service.search import bitmaps, buckets, build, limits, plan, rare
from catalog_service.search.bitmaps import Reads
from catalog_service.transport.requests import parse_list_request
from tests.integration.listing.listing_data import brute_force, delete, insert, snapshot
from tests.integration.listing.reading import chosen

CODEC = CursorCodec(b"bitmaps")
# Two families of words that never meet in a product (anti-correlated), words that open names (so a
# name sort meets them in runs), and a family of many words under one short prefix (heavy).
SIDE_A = ("source", "sourced", "sourcing", "soup")
SIDE_B = ("around", "arounder", "aroma", "arid")
COMMON = ("fresh", "farm", "from", "quality", "trust")
OPENERS = ("Organic", "Premium", "Zesty", "Äpfel", "apple")
MANY = tuple(f"vik{c}{d}" for c in "abcd" for d in "xyz")  # 12 words under 'vik'
CATEGORIES = ("Fruits", "Vegetables", "Dairy")
PRICES = tuple(Decimal(p) for p in ("1.00", "2.50", "2.50", "2.50", "7.25", "10.00", "99.99"))


def product(rng: random.Random, i: int) -> dict[str, object]:
    side = SIDE_A if rng.random() < 0.5 else SIDE_B
    words = [rng.choice(side) for _ in range(rng.randint(1, 3))]
    words += [rng.choice(COMMON) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.3:
        words.append(rng.choice(MANY))
    rng.shuffle(words)
    opener = rng.choice(OPENERS) if rng.random() < 0.6 else rng.choice(("Mango", "Crème", "Date"))
    return {
        "external_id": f"b-{i}",
        "name": f"{opener} {rng.choice(('pack', 'box', 'Box'))}",
        "description": " ".join(words) + ".",
        "category": rng.choice(CATEGORIES),
        "price": rng.choice(PRICES),
        "stock": 1,
        "created_at": dt.datetime(2025, 1, 1) + dt.timedelta(hours=rng.randrange(30)),
        "updated_at": dt.datetime(2025, 6, 1),
    }


@pytest.fixture(scope="module")
def small_structures() -> Iterator[None]:
    """Buckets of 4 products (split at 8) and heavy prefixes past 3 words: a 300-product catalog
    then has dozens of buckets per sort, splits on its writes, and prefix bitmaps."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(buckets, "BUCKET_SIZE", 4)
        patch.setattr(buckets, "SPLIT_AT", 8)
        patch.setattr(bitmaps, "PREFIX_MAX_WORDS", 3)
        yield


@pytest.fixture(scope="module")
def catalog(listing_engine: Engine, small_structures: None) -> Iterator[tuple[Engine, list]]:
    from tests.integration.listing.conftest import clear

    clear(listing_engine)
    rng = random.Random(11)
    ids: list[int] = []
    for start in range(0, 300, 60):  # several write transactions, as the write path makes them
        ids += insert(listing_engine, [product(rng, i) for i in range(start, start + 60)])
    with listing_engine.begin() as conn:  # updates that move products between buckets and sets
        for product_id in rng.sample(ids, 40):
            conn.execute(
                text("UPDATE products SET price = :p, name = :n, description = :d WHERE id = :i"),
                {
                    "p": rng.choice(PRICES),
                    "n": f"{rng.choice(OPENERS)} jar",
                    "d": "aroma fresh vikax.",
                    "i": product_id,
                },
            )
            from catalog_service.listing.indexer import SearchIndexer

            SearchIndexer().reindex(conn, [product_id])
    delete(listing_engine, rng.sample(ids, 15))
    yield listing_engine, snapshot(listing_engine)
    clear(listing_engine)


TERMS = sorted({w[:n] for w in (*SIDE_A, *SIDE_B, *COMMON, *MANY, "organic", "premium", "zesty", "apfel")
                for n in range(3, len(w) + 1)} | {"zzz"})  # fmt: skip
queries = st.fixed_dictionaries(
    {
        "q": st.one_of(
            # one term from each side (anti-correlated), maybe with common ones
            st.tuples(
                st.sampled_from([t for t in TERMS if "sou".startswith(t[:3]) or t.startswith("sou")]),
                st.sampled_from([t for t in TERMS if t.startswith("ar")]),
                st.lists(st.sampled_from(COMMON), max_size=2),
            ).map(lambda x: " ".join([x[0], x[1], *x[2]])),
            st.lists(st.sampled_from(TERMS), min_size=1, max_size=4).map(" ".join),
        ),
        "sort": st.sampled_from(["created_at", "price", "name"]),
        "order": st.sampled_from(["asc", "desc"]),
        "limit": st.integers(1, 12).map(str),
    },
    optional={
        "category": st.sampled_from([c.lower() for c in CATEGORIES]),
        "min_price": st.sampled_from(["1", "2.5", "7.25"]),
        "max_price": st.sampled_from(["2.50", "10", "99.99"]),
    },
)
# DIRECT_MAX / DIRECT_BUCKET: 0 forces the bucket walk everywhere, large values the direct reads.
THRESHOLDS = [(0, 0), (0, 2), (5, 1), (0, 1000), (10_000, 128)]


def answer(rows: list, params: dict[str, str], start: float) -> tuple[ListQuery, list[int]]:
    if Decimal(params.get("min_price", "0")) > Decimal(params.get("max_price", "100")):
        params["max_price"] = params["min_price"]
    query = parse_list_request(pb.ListProductsRequest(**params), CODEC)
    expected = brute_force(rows, query)
    if expected and start > 0.3:
        by_id = {r.id: r for r in rows}
        anchor = by_id[expected[int(start * (len(expected) - 1))]]
        query = dataclasses.replace(query, after=after_product(query.sort, anchor))
        expected = expected[expected.index(anchor.id) + 1 :]
    return query, expected[: query.limit + 1]


def ids(rows: list | None) -> list[int] | None:
    return None if rows is None else [int(r[0]) for r in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=queries, start=st.floats(0, 1))
def test_the_bitmap_plan_matches_the_brute_force(catalog, monkeypatch, params, start) -> None:
    engine, rows = catalog
    query, want = answer(rows, params, start)
    fetch = query.limit + 1
    with engine.connect() as conn:
        for direct_max, direct_bucket in THRESHOLDS:
            monkeypatch.setattr(limits, "DIRECT_MAX", direct_max)
            monkeypatch.setattr(limits, "DIRECT_BUCKET", direct_bucket)
            reads = Reads()
            assert ids(plan.search(conn, query, fetch, reads)) == want, (direct_max, direct_bucket)
            assert not any(s.startswith("retry") for s in reads.steps), reads.steps  # no write ran
        assert [int(r[0]) for r in chosen(conn, query, fetch)] == want, "through the reader"


@pytest.mark.parametrize(
    "sort,order", list(itertools.product(("created_at", "price", "name"), ("asc", "desc")))
)
@pytest.mark.parametrize("q", ["sou", "aro fresh", "organic", "vik", "fresh farm", "source around"])
def test_walking_every_page_returns_every_match_once(catalog, monkeypatch, sort, order, q) -> None:
    engine, rows = catalog
    monkeypatch.setattr(limits, "DIRECT_MAX", 0)  # the bucket walk on every page
    query = parse_list_request(pb.ListProductsRequest(q=q, sort=sort, order=order, limit="5"), CODEC)
    expected = brute_force(rows, query)
    seen: list[int] = []
    with engine.connect() as conn:
        while True:
            page = plan.search(conn, query, query.limit + 1)
            assert page is not None
            seen += [int(r[0]) for r in page[: query.limit]]
            if len(page) <= query.limit:
                break
            last = product_from_row(page[query.limit - 1])
            query = dataclasses.replace(query, after=after_product(sort, last))
    assert seen == expected


def sets_of(conn: Connection) -> dict[tuple[int, int], BitMap]:
    found: dict[tuple[int, int], BitMap] = {}
    for kind, set_id, bits in conn.execute(text("SELECT kind, set_id, bits FROM search_bitmaps")):
        found.setdefault((int(kind), int(set_id)), BitMap()).update(BitMap.deserialize(bits))
    return found


def named_sets(conn: Connection) -> dict[tuple[int, str], BitMap]:
    names = {
        **{(0, int(i)): w for i, w in conn.execute(text("SELECT id, word FROM search_words"))},
        **{(1, int(i)): p for i, p in conn.execute(text("SELECT id, prefix FROM search_prefixes"))},
        **{
            (2, int(i)): c.casefold()
            for i, c in conn.execute(text("SELECT id, category FROM search_categories"))
        },
    }
    return {(k[0], names[k]): b for k, b in sets_of(conn).items() if b}


def check_buckets(conn: Connection) -> None:
    """Every bucket holds exactly the products of its range; every product is where its row says."""
    placed = {
        int(r[0]): r
        for r in conn.execute(
            text("SELECT product_id, b_created, b_price, b_name FROM search_product_buckets")
        )
    }
    products = {int(r[0]) for r in conn.execute(text("SELECT id FROM products"))}
    assert set(placed) == products
    for sort, code in buckets.SORT_CODE.items():
        column = buckets.LO_COLUMN[sort]
        rows = conn.execute(
            text(
                f"SELECT id, {column} AS lo, lo_id, members, bits FROM search_buckets WHERE sort_key = {code} ORDER BY {column}, lo_id"
            )
        ).fetchall()
        order = [int(r[0]) for r in conn.execute(text(f"SELECT id FROM products ORDER BY {sort}, id"))]
        position = 0
        for n, bucket in enumerate(rows):
            members = BitMap.deserialize(bucket.bits)
            assert len(members) == bucket.members
            if n + 1 < len(rows):
                nxt = rows[n + 1]
                cond, params = buckets.position_condition(sort, "id", "<", "hi", nxt.lo, int(nxt.lo_id))
                inside = [
                    int(r[0])
                    for r in conn.execute(
                        text(f"SELECT id FROM products WHERE {cond} ORDER BY {sort}, id"), params
                    )
                ]
            else:
                inside = order
            assert order[position : len(inside)] == sorted(members, key=order.index), (sort, n)
            position = len(inside)
            column_b = buckets.PRODUCT_BUCKET_COLUMN[sort]
            assert all(getattr(placed[i], column_b) == bucket.id for i in members)
        assert position == len(order)


def test_the_write_path_keeps_what_a_rebuild_makes(catalog) -> None:
    """The sets after inserts, updates and deletes through the hook equal a rebuild's; the buckets
    (cut differently) each hold exactly their range."""
    engine, _rows = catalog
    with engine.connect() as conn:
        written = named_sets(conn)
        check_buckets(conn)
        assert (
            conn.execute(text("SELECT COUNT(*) FROM search_buckets")).scalar_one() > 3 * 20
        )  # splits happened
        assert (
            conn.execute(text("SELECT COUNT(*) FROM search_prefixes WHERE prefix = 'vik'")).scalar_one() == 1
        )
        conn.rollback()
    with engine.begin() as conn:
        build.rebuild(conn)
    with engine.connect() as conn:
        assert named_sets(conn) == written
        check_buckets(conn)


def handler_reads(conn: Connection) -> int:
    return sum(int(r[1]) for r in conn.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'")))


@pytest.mark.parametrize(
    "params",
    [
        {"q": "source around"},  # common sides that never meet
        {"q": "sou aro fresh farm"},  # prefixes of both sides
        {"q": "organic", "sort": "name", "order": "asc"},  # a name opener, sorted by name
        {"q": "zesty", "sort": "name", "order": "desc"},
        {
            "q": "fresh",
            "min_price": "7.25",
            "max_price": "7.25",
            "sort": "name",
        },  # narrow price, another sort
        {"q": "vik fresh", "min_price": "99.99", "sort": "price", "order": "asc"},
        {"q": "sou", "category": "dairy", "sort": "created_at", "order": "asc"},
    ],
)
def test_a_crafted_worst_case_reads_no_more_than_the_bound(catalog, monkeypatch, params) -> None:
    """Handler_read_* (every index entry and row MariaDB read) around the plan, with the bucket walk
    forced, against plan.bound() for this catalog; the plan's own accounting too."""
    engine, rows = catalog
    monkeypatch.setattr(limits, "DIRECT_MAX", 0)
    monkeypatch.setattr(limits, "DIRECT_BUCKET", 1)
    with engine.connect() as conn:
        counts = {
            s: int(n)
            for s, n in conn.execute(text("SELECT sort_key, COUNT(*) FROM search_buckets GROUP BY sort_key"))
        }
        query = parse_list_request(pb.ListProductsRequest(limit="5", **params), CODEC)
        limit = plan.bound(
            len(rows), counts[buckets.SORT_CODE[query.sort]], counts[1], query.limit + 1, len(query.terms)
        )
        for page in range(3):  # first and deeper pages
            before = handler_reads(conn)
            reads = Reads()
            got = plan.search(conn, query, query.limit + 1, reads)
            used = handler_reads(conn) - before - 1  # SHOW STATUS counts its own read
            assert got is not None
            total = reads.bitmap_rows + reads.bucket_rows + reads.entries + reads.lookups
            assert used <= limit and total <= limit, (page, used, total, limit, reads.steps)
            if len(got) <= query.limit:
                break
            last = product_from_row(got[query.limit - 1])
            query = dataclasses.replace(query, after=after_product(query.sort, last))


@pytest.mark.parametrize("max_len", [4, 9, 64])
def test_price_edges_read_by_rows_when_the_id_list_is_cut(catalog, monkeypatch, max_len) -> None:
    """The price edges' ids come as one GROUP_CONCAT; cut by group_concat_max_len (even inside an
    id), the plan reads them as rows instead and still answers exactly."""
    engine, rows = catalog
    monkeypatch.setattr(limits, "DIRECT_MAX", 0)
    with engine.connect() as conn:
        conn.execute(text(f"SET SESSION group_concat_max_len = {max_len}"))
        for sort in ("created_at", "name"):
            query = parse_list_request(
                pb.ListProductsRequest(q="fresh", min_price="2.5", max_price="10", sort=sort, limit="10"),
                CODEC,
            )
            got = plan.search(conn, query, 11)
            assert ids(got) == brute_force(rows, query)[:11], (max_len, sort)
        conn.execute(text("SET SESSION group_concat_max_len = DEFAULT"))


def index_reads(conn: Connection) -> int:
    """Index entries and rows read from tables (not the statement's own temporary tables, nor SHOW
    STATUS's: Handler_read_rnd*)."""
    reads = {r[0]: int(r[1]) for r in conn.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'"))}
    return sum(reads[f"Handler_read_{kind}"] for kind in ("key", "next", "prev", "first", "last"))


def server_selects(conn: Connection) -> int:
    return int(conn.execute(text("SHOW SESSION STATUS LIKE 'Com_select'")).one()[1])


@pytest.mark.parametrize(
    "params",
    [
        {"q": "soup"},
        {"q": "aro", "sort": "price", "order": "asc"},  # three words (the most step 0 takes here)
        {"q": "arid", "category": "dairy", "sort": "name", "order": "desc"},
        {"q": "sourced", "min_price": "2.5", "max_price": "10", "sort": "created_at", "order": "asc"},
        {"q": "apfel", "sort": "name", "order": "asc"},  # the opener of names, in a name sort
    ],
)
def test_a_rare_term_is_one_statement_on_every_page(catalog, params) -> None:
    """Step 0: a term of at most PREFIX_MAX_WORDS words in at most DIRECT_MAX products is answered by
    one statement per page (counted by the server), walked page by page to the brute force."""
    engine, rows = catalog
    query = parse_list_request(pb.ListProductsRequest(limit="7", **params), CODEC)
    expected = brute_force(rows, query)
    assert expected, "the case needs matches"
    seen: list[int] = []
    with engine.connect() as conn:
        while True:
            reads = Reads()
            before = server_selects(conn)
            page = plan.search(conn, query, query.limit + 1, reads)
            assert server_selects(conn) - before == 1 and reads.steps == [f"rare term {len(page or [])}"]
            assert page is not None
            seen += ids(page[: query.limit]) or []
            if len(page) <= query.limit:
                break
            query = dataclasses.replace(
                query, after=after_product(query.sort, product_from_row(page[query.limit - 1]))
            )
    assert seen == expected


def test_a_rare_term_without_a_match_in_the_filters_is_an_empty_page(catalog) -> None:
    engine, _ = catalog
    query = parse_list_request(pb.ListProductsRequest(q="soup", category="nothing here"), CODEC)
    with engine.connect() as conn:
        reads = Reads()
        assert plan.search(conn, query, query.limit + 1, reads) == []
    assert reads.steps == ["rare term 0"], "told apart from a declined term"


@pytest.mark.parametrize("q,direct_max", [("vik", 1000), ("sou", 1000), ("fresh", 5)])
def test_a_term_step_0_declines_reads_no_posting_and_the_bitmaps_answer(
    catalog, monkeypatch, q, direct_max
) -> None:
    """Too many words ('vik': 12, 'sou': 4, past PREFIX_MAX_WORDS = 3 here) or too many products: the
    statement reads the term's vocabulary rows and nothing else, and the bitmap plan answers."""
    engine, rows = catalog
    monkeypatch.setattr(limits, "DIRECT_MAX", direct_max)
    query = parse_list_request(pb.ListProductsRequest(q=q, sort="price"), CODEC)
    with engine.connect() as conn:
        before = index_reads(conn)
        assert rare.rare_term_page(conn, query, query.limit + 1, Reads()) is None
        assert index_reads(conn) - before <= 2 * (bitmaps.PREFIX_MAX_WORDS + 1)
        reads = Reads()
        assert (
            ids(plan.search(conn, query, query.limit + 1, reads))
            == brute_force(rows, query)[: query.limit + 1]
        )
    assert reads.steps[0] == "rare term: declined" and len(reads.steps) > 1


def test_a_word_without_postings_is_declined(catalog) -> None:
    engine, rows = catalog
    query = parse_list_request(pb.ListProductsRequest(q="soup"), CODEC)
    with engine.begin() as conn:
        conn.execute(text("UPDATE search_words SET has_postings = 0 WHERE word = 'soup'"))
        try:
            reads = Reads()
            got = plan.search(conn, query, query.limit + 1, reads)
            assert reads.steps[0] == "rare term: declined"
            assert ids(got) == brute_force(rows, query)[: query.limit + 1]
        finally:
            conn.execute(text("UPDATE search_words SET has_postings = 1 WHERE word = 'soup'"))


def test_a_declined_term_skips_step_0_while_remembered(catalog) -> None:
    engine, _ = catalog
    declined = rare.Declined()
    query = parse_list_request(pb.ListProductsRequest(q="vik"), CODEC)
    with engine.connect() as conn:
        first, second = Reads(), Reads()
        plan.search(conn, query, query.limit + 1, first, declined)
        plan.search(conn, query, query.limit + 1, second, declined)
    assert first.steps[0] == "rare term: declined"
    assert (
        not any(step.startswith("rare term") for step in second.steps)
        and first.statements == second.statements + 1
    )
