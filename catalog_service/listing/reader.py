"""Reads of the catalog: pages of products by keyset, one product, category counts.

A page: a search goes to the bitmap plan (catalog_service.search), which serves every search with a
bounded cost; anything else (and a search that plan declines) gets the planner's choice among the
single-statement plans of statements.py, from the statistics this reader owns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, text

from catalog_service.domain import CategoryCount, ProductRecord, product_from_row
from catalog_service.listing import keyset, planner, statements
from catalog_service.listing.keyset import Keyset
from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import Driver, Plan, Statement
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
        row = self._reads.read(floor, lambda conn: _execute(conn, statements.product(product_id)).first())
        return product_from_row(row) if row is not None else None

    def categories(self, floor: str | None = None) -> list[CategoryCount]:
        rows = self._reads.read(floor, lambda conn: _execute(conn, statements.categories()).fetchall())
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
    return _tuples(conn, statements.page(query, plan, fetch, driver=driver, window_end=end))


def scan_within_window(
    conn: Connection, query: ListQuery, fetch: int, window: planner.Window, driver: Driver | None = None
) -> list[Any]:
    """SCAN over at most `window.rows` entries of the sort index; if the page is not full by then,
    the fallback plan answers.

    The rows a bounded scan finds are the first matches in order, so a full page from it is the
    answer; a short page from a window that ended early is not. The fallback answers the whole page
    rather than continuing after the window, so that a page is always one statement.
    """
    row = _execute(conn, statements.window_end(query, window.rows, price=not window.whole_scope)).first()
    end = keyset.after_row(query.sort, row.k, row.id) if row is not None else None
    rows = run_plan(conn, query, Plan.SCAN, fetch, None, end)
    if len(rows) >= fetch or end is None:
        return rows
    return run_plan(conn, query, window.fallback, fetch, driver)


def _execute(conn: Connection, statement: Statement) -> Any:
    return conn.execute(text(statement.sql), statement.params)


def _tuples(conn: Connection, statement: Statement) -> list[tuple[Any, ...]]:
    """The statement's rows as plain tuples, for rows read by position (a page's PRODUCT_COLUMNS).

    On the connection's DBAPI cursor through `Connection._cursor_execute`, SQLAlchemy's own path for
    a statement without a result object: its before_cursor_execute listeners run (the statement's
    time limit), and an error comes out as through `execute` (a DBAPIError, a lost connection
    invalidated, handle_error listeners). What it skips, the execution context and the Result's
    rows, was 0.12 ms of a 0.30 ms page statement's CPU (sqlalchemy 2.1, pinned).
    """
    sql, names = _compiled(statement.sql, conn.dialect)
    params = statement.params if names is None else tuple(statement.params[name] for name in names)
    cursor = conn.connection.cursor()
    # A failed statement's cursor is dropped, not closed: closing one whose connection was lost
    # raises again (SQLAlchemy has invalidated that connection by then).
    conn._cursor_execute(cursor, sql, params)
    rows = list(cursor.fetchall())
    cursor.close()
    return rows


@functools.lru_cache(maxsize=1024)
def _compiled(sql: str, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The text in the driver's paramstyle, as `text()` compiles it, and for a positional paramstyle
    its parameters' names in order (None: the driver takes them by name)."""
    compiled = text(sql).compile(dialect=dialect)
    names = compiled.positiontup
    return compiled.string, tuple(names) if names is not None else None
