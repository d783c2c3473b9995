"""Reads of the catalog: pages of products by keyset, one product, category counts.

A page: a search goes to the bitmap plan (catalog_service.search), which serves every search with a
bounded cost; anything else (and a search that plan declines) gets the planner's choice among the
single-statement plans of statements.py, from the statistics this reader owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from catalog_service.domain import CategoryCount, ProductRecord, product_from_row
from catalog_service.listing import keyset, planner, statements
from catalog_service.listing.execution import execute, tuples
from catalog_service.listing.keyset import Keyset
from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import Driver, Plan
from catalog_service.listing.statistics import Statistics
from catalog_service.read_routing import ReadRouter
from catalog_service.search import plan as search_plan
from catalog_service.search.rare import Declined


@dataclass(frozen=True)
class Page:
    products: list[ProductRecord]
    has_more: bool

    def last_position(self, sort: str) -> Keyset | None:
        """Where the next page starts (None: this is the last page)."""
        return keyset.after_product(sort, self.products[-1]) if self.has_more else None


class ProductReader:
    """Nothing here writes: reads may run on a read replica. Each read takes the replication floor it
    must reflect (None: unknown, so the primary) and runs where the ReadRouter puts it."""

    def __init__(self, reads: Engine | ReadRouter, statistics: Statistics | None = None) -> None:
        self._reads = reads if isinstance(reads, ReadRouter) else ReadRouter(reads)
        self.statistics = statistics if statistics is not None else Statistics()
        self._declined = Declined()

    def list_page(self, query: ListQuery, floor: str | None = None) -> Page:
        rows = self._reads.read(floor, lambda conn: self.rows(conn, query, query.limit + 1))
        return Page([product_from_row(r) for r in rows[: query.limit]], len(rows) > query.limit)

    def rows(self, conn: Connection, query: ListQuery, fetch: int) -> list[Any]:
        return page_rows(conn, query, fetch, self.statistics, self._declined)

    def get(self, product_id: int, floor: str | None = None) -> ProductRecord | None:
        row = self._reads.read(floor, lambda conn: execute(conn, statements.product(product_id)).first())
        return product_from_row(row) if row is not None else None

    def categories(self, floor: str | None = None) -> list[CategoryCount]:
        rows = self._reads.read(floor, lambda conn: execute(conn, statements.categories()).fetchall())
        return [CategoryCount(r.category, int(r.product_count)) for r in rows]


def page_rows(
    conn: Connection,
    query: ListQuery,
    fetch: int,
    statistics: Statistics,
    declined: Declined | None = None,
) -> list[Any]:
    """The next `fetch` rows of the query (PRODUCT_COLUMNS), in order: a search by the bitmap plan,
    the rest (and what it declines) by the planner's choice."""
    if query.terms:
        found = search_plan.search(conn, query, fetch, declined=declined)
        if found is not None:
            return found
    choice = planner.choose(query, statistics.facts(conn, query))
    if choice.empty:
        return []
    driver = statistics.driver(conn, choice.driving_term) if choice.driving_term else None
    if choice.window is not None:
        return scan_within_window(conn, query, fetch, choice.window, driver)
    return run_plan(conn, query, choice.plan, fetch, driver)


def run_plan(
    conn: Connection,
    query: ListQuery,
    plan: Plan,
    fetch: int,
    driver: Driver | None = None,
    end: Keyset | None = None,
) -> list[Any]:
    """The next `fetch` rows by the given plan (POSTINGS needs its driving term's words)."""
    return tuples(conn, statements.page(query, plan, fetch, driver=driver, window_end=end))


def scan_within_window(
    conn: Connection, query: ListQuery, fetch: int, window: planner.Window, driver: Driver | None = None
) -> list[Any]:
    """SCAN over at most `window.rows` entries of the sort index; if the page is not full by then,
    the fallback plan answers.

    The rows a bounded scan finds are the first matches in order, so a full page from it is the
    answer; a short page from a window that ended early is not. The fallback answers the whole page
    rather than continuing after the window, so that a page is always one statement.
    """
    row = execute(conn, statements.window_end(query, window.rows, price=not window.whole_scope)).first()
    end = keyset.after_row(query.sort, row.k, row.id) if row is not None else None
    rows = run_plan(conn, query, Plan.SCAN, fetch, None, end)
    if len(rows) >= fetch or end is None:
        return rows
    return run_plan(conn, query, window.fallback, fetch, driver)
