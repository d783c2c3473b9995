"""Chooses the plan of a query from cheap statistics (term document frequencies, category sizes, the
optimiser's estimate of a price range): statistics in, plan out, no database (listing.statistics
fetches them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import Plan

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

# A price range sorted by another column (no search terms). Measured on 1M rows (catalog-queries.md):
# reading the range from the price index and sorting it costs about 3 us per row in the range (1.5
# with the covering price index), walking a sort index about 0.3 us per entry, for the scan and for
# the window's probe alike. Below this estimate the range is read whole: a windowed scan expects
# WINDOW_FACTOR + 1 walks of fetch * scope / range entries, which is cheaper only above ~3,200 rows
# for a page of 21 in 1M products.
PRICE_RANGE_MAX_ROWS = 3_000
# A range holding at least this share of the scope is scanned unbounded: the page is expected within
# 10 * fetch entries (~0.1 ms at limit 20), and the window's probe (MIN_WINDOW entries, ~0.6 ms)
# would cost several times the scan. Measured: 100-300 (30%) walks 203 entries by name, 0.2 ms.
PLAIN_SCAN_MIN_SHARE = 0.1
# Between PRICE_RANGE_MAX_ROWS and this estimate the scan runs in a window of the sort index and, if
# the window ends before the page is full (the range is correlated with the sort order, and the scan
# could walk most of the scope: ~300 ms on 1M), the range is read whole instead: at most ~30 ms.
# Above it the scan runs unbounded: reading the range costs more than the correlated walks measured
# (price >= 5000, estimated 18,830 rows, 9,416 real, by name desc: 62,446 entries, 17 ms, against
# 48 ms to read and sort the range), and a window whose fallback is the scan itself could only add
# its probe to the same walk.
PRICE_RANGE_FALLBACK_MAX_ROWS = 10_000


@dataclass(frozen=True)
class TermStats:
    term: str
    df: int  # sum of the document frequencies of the words it prefixes (an upper bound)
    words: int
    indexed: bool  # every such word has postings


@dataclass(frozen=True)
class Window:
    """Run SCAN over at most `rows` entries of the sort index; if the page is not full, `fallback`
    answers the whole page.

    A search counts only the entries that pass the filters (its estimate is in rows tested on
    product_search); a price range counts every entry of the scope (category), price or not, since
    it is the walk over out-of-range entries that a correlated range makes long, and a probe that
    skipped them would walk as far as the unbounded scan.
    """

    rows: int
    fallback: Plan
    whole_scope: bool = False


@dataclass(frozen=True)
class Choice:
    plan: Plan
    driving_term: str | None = None  # POSTINGS, or the fallback of a windowed SCAN
    window: Window | None = None  # SCAN only
    empty: bool = False  # some term prefixes no word at all: nothing can match


class Need(Enum):
    """Which statistics the plan of a query depends on (the reader fetches those, Statistics.facts)."""

    NOTHING = "nothing"
    PRICE_RANGE = "price_range"
    TERMS = "terms"


@dataclass(frozen=True)
class Facts:
    terms: list[TermStats] | None = None
    scope_rows: int = 0  # products in the query's category (price range) or in the catalog (terms)
    range_rows: int = 0  # the optimiser's estimate of the price range


def need(query: ListQuery) -> Need:
    if query.terms:
        return Need.TERMS
    has_price = query.min_price is not None or query.max_price is not None
    if not has_price or query.sort == "price":
        return Need.NOTHING  # the sort index holds the answer in order
    return Need.PRICE_RANGE


def choose(query: ListQuery, facts: Facts) -> Choice:
    """The plan of a query from its statistics (pure: tested without a database)."""
    fetch = query.limit + 1
    kind = need(query)
    if kind is Need.NOTHING:
        return Choice(Plan.SCAN)
    if kind is Need.PRICE_RANGE:
        return choose_price_range(facts.range_rows, facts.scope_rows, fetch)
    terms = facts.terms or []
    if any(s.words == 0 for s in terms):
        return Choice(Plan.SCAN, empty=True)
    plan, driving, window = choose_search(terms, facts.scope_rows, fetch, query.sort)
    return Choice(
        plan,
        driving.term if driving else None,
        Window(window, Plan.POSTINGS) if window is not None else None,
    )


def choose_price_range(range_rows: int, scope_rows: int, fetch: int) -> Choice:
    """The plan of a price range sorted by another column, from the range's estimated rows and the
    products in scope; constants above."""
    if range_rows < PRICE_RANGE_MAX_ROWS:
        return Choice(Plan.PRICE_RANGE)
    share = range_rows / max(scope_rows, range_rows)  # EXPLAIN may overestimate past the scope
    if share >= PLAIN_SCAN_MIN_SHARE or range_rows > PRICE_RANGE_FALLBACK_MAX_ROWS:
        return Choice(Plan.SCAN)
    expected = fetch / share  # entries walked if the range is spread evenly along the sort order
    rows = int(max(MIN_WINDOW, WINDOW_FACTOR * expected))
    return Choice(Plan.SCAN, window=Window(rows, Plan.PRICE_RANGE, whole_scope=True))


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
