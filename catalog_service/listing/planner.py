"""Chooses the plan of a query from cheap statistics: term document frequencies, category sizes, a price probe."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from catalog_service.listing.plans import Driver, Plan
from catalog_service.listing.query import ListQuery
from catalog_service.listing.sql import PRICE_INDEX, escape_like, filters
from catalog_service.listing.text import vocab_word

# A price range with fewer rows than this is read whole and sorted; a wider one is filtered while
# walking the sort index (about (limit+1) * scope / range_rows index entries). See catalog-queries.md.
PRICE_PROBE_CAP = 10_000
# Relative costs measured on 1M rows: a posting read, filtered and sorted, against a row tested on
# product_search (a primary-key lookup, about 3 us here), which is what a SCAN row and a POSTINGS
# re-test cost. With a re-test the sort cannot stop at the page (a priority queue), and sorting by
# name (long collation keys) costs several times more per row.
POSTING_COST = 0.2
POSTING_COST_RETESTED = {"created_at": 0.3, "price": 0.3, "name": 0.8}
LOOKUP_COST = 1.0
# The scan's estimate assumes the terms are independent of each other, of the filters and of the
# sort order; correlation makes it walk much further (a word of product names sorted by name). So it
# must win by this factor, and it runs in a window of this many times its estimate (at least
# MIN_WINDOW rows, at most the postings plan's cost) before giving up for the postings plan: the
# total is then at most about twice the postings plan.
SCAN_RISK = 2.0
WINDOW_FACTOR = 4
MIN_WINDOW = 2000


@dataclass(frozen=True)
class TermStats:
    term: str
    df: int  # sum of the document frequencies of the words it prefixes (an upper bound)
    words: int
    indexed: bool  # every such word has postings


@dataclass(frozen=True)
class Choice:
    plan: Plan
    driver: Driver | None = None
    window: int | None = None  # SCAN: rows of the sort index to try before falling back to POSTINGS
    empty: bool = False  # some term prefixes no word at all: nothing can match


def term_stats(conn: Connection, terms: tuple[str, ...]) -> list[TermStats]:
    parts, params = [], {}
    for i, term in enumerate(terms):
        params[f"p{i}"] = escape_like(vocab_word(term)) + "%"
        parts.append(
            f"SELECT {i} AS i, COALESCE(SUM(df), 0) AS df, COUNT(*) AS n, COALESCE(MIN(has_postings), 1) AS ix"
            f" FROM search_words WHERE word LIKE :p{i}"
        )
    rows = conn.execute(text(" UNION ALL ".join(parts)), params).fetchall()
    by_index = {int(r.i): r for r in rows}
    return [
        TermStats(t, int(by_index[i].df), int(by_index[i].n), bool(by_index[i].ix))
        for i, t in enumerate(terms)
    ]


def driver(conn: Connection, term: str) -> Driver:
    rows = conn.execute(
        text("SELECT id FROM search_words WHERE word LIKE :p ORDER BY id"),
        {"p": escape_like(vocab_word(term)) + "%"},
    ).fetchall()
    return Driver(term, tuple(int(r.id) for r in rows))


def total_products(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(SUM(product_count), 0) FROM category_counts")).scalar_one())


def price_range_rows(conn: Connection, query: ListQuery, cap: int = PRICE_PROBE_CAP) -> int:
    """How many rows the price range holds, counted up to cap on the price index alone."""
    where = filters(query)
    index = PRICE_INDEX[query.category is not None]
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM products p FORCE INDEX ({index}) WHERE {where.where()} LIMIT {cap}) t"
    return int(conn.execute(text(sql), where.params).scalar_one())


def choose(conn: Connection, query: ListQuery) -> Choice:
    has_price = query.min_price is not None or query.max_price is not None
    if not query.terms:
        if has_price and query.sort != "price" and price_range_rows(conn, query) < PRICE_PROBE_CAP:
            return Choice(Plan.PRICE_RANGE)
        return Choice(Plan.SCAN)
    stats = term_stats(conn, query.terms)
    if any(s.words == 0 for s in stats):
        return Choice(Plan.SCAN, empty=True)
    plan, driving, window = choose_search(stats, total_products(conn), query.limit + 1, query.sort)
    return Choice(plan, driver(conn, driving.term) if driving else None, window)


def choose_search(
    stats: list[TermStats], total: int, fetch: int, sort: str = "created_at"
) -> tuple[Plan, TermStats | None, int | None]:
    """(plan, driving term, scan window) by estimated cost, terms assumed independent."""
    shares = {s.term: min(1.0, s.df / max(total, 1)) for s in stats}
    scan_rows = fetch / max(_product(shares.values()), 1e-12)
    indexed = [s for s in stats if s.indexed]
    if not indexed:
        return Plan.SCAN, None, None
    best, best_cost = indexed[0], float("inf")
    for s in indexed:
        others = _product(v for t, v in shares.items() if t != s.term)
        if len(stats) == 1:
            cost = s.df * POSTING_COST
        else:
            tests = min(s.df, fetch / max(others, 1e-12))
            cost = s.df * POSTING_COST_RETESTED[sort] + tests * LOOKUP_COST
        if cost < best_cost:
            best, best_cost = s, cost
    if scan_rows * LOOKUP_COST * SCAN_RISK <= best_cost:
        window = max(MIN_WINDOW, min(WINDOW_FACTOR * scan_rows, best_cost / LOOKUP_COST))
        return Plan.SCAN, best, int(window)
    return Plan.POSTINGS, best, None


def _product(values: Iterable[float]) -> float:
    result = 1.0
    for v in values:
        result *= v
    return result
