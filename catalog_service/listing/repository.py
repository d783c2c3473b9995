"""Read-side SQL of the catalog: pages of products by keyset, one product, category counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from catalog_service.domain import PRODUCT_FIELDS, CategoryCount, ProductRecord
from catalog_service.listing import planner
from catalog_service.listing.cursor import CursorCodec, Keyset
from catalog_service.listing.plans import Driver, Plan, Statement, ids_statement, page_statement
from catalog_service.listing.query import ListQuery, keyset_of
from catalog_service.listing.sql import SORT_INDEX, add_keyset, filters, order_by
from catalog_service.search import plan as search_plan
from farmlokal_common.read_routing import ReadRouter


@dataclass(frozen=True)
class Page:
    products: list[ProductRecord]
    next_cursor: str
    has_more: bool


def record(row: Any) -> ProductRecord:
    """A row of PRODUCT_FIELDS in that order; MySQL's naive DATETIMEs are UTC. Positional: reading
    the columns by name cost twice as much, and a listing page converts 21 rows."""
    id_, external_id, name, description, category, price, stock, created_at, updated_at = row
    return ProductRecord(
        id_,
        external_id,
        name,
        description,
        category,
        price,
        stock,
        created_at.replace(tzinfo=dt.UTC),
        updated_at.replace(tzinfo=dt.UTC),
    )


class ProductReader:
    """Nothing here writes: reads may run on a read replica. Each read takes the replication floor it
    must reflect (None: unknown, so the primary) and runs where the ReadRouter puts it."""

    def __init__(self, reads: Engine | ReadRouter, cursors: CursorCodec) -> None:
        self._reads = reads if isinstance(reads, ReadRouter) else ReadRouter(reads)
        self._cursors = cursors

    def list_page(self, query: ListQuery, floor: str | None = None) -> Page:
        rows = self._reads.read(floor, lambda conn: fetch_rows(conn, query, query.limit + 1))
        has_more = len(rows) > query.limit
        products = [record(r) for r in rows[: query.limit]]
        cursor = ""
        if has_more:
            last = products[-1]
            position = keyset_of(query.sort, last.created_at, last.price, last.name, last.id)
            cursor = self._cursors.encode(query.binding(), position)
        return Page(products, cursor, has_more)

    def get(self, product_id: int, floor: str | None = None) -> ProductRecord | None:
        row = self._reads.read(
            floor,
            lambda conn: conn.execute(
                text(f"SELECT {', '.join(PRODUCT_FIELDS)} FROM products WHERE id = :id"),
                {"id": product_id},
            ).first(),
        )
        return record(row) if row is not None else None

    def categories(self, floor: str | None = None) -> list[CategoryCount]:
        rows = self._reads.read(
            floor,
            lambda conn: conn.execute(
                text(
                    "SELECT category, product_count FROM category_counts WHERE product_count > 0"
                    " ORDER BY category"
                )
            ).fetchall(),
        )
        return [CategoryCount(r.category, int(r.product_count)) for r in rows]


def fetch_rows(conn: Connection, query: ListQuery, fetch: int, force: Plan | None = None) -> list[Any]:
    """The next `fetch` rows of the query, by the planner's choice or by a forced plan (tests)."""
    if force is not None:
        return _run(
            conn, query, force, fetch, _forced_driver(conn, query) if force is Plan.POSTINGS else None
        )
    if query.terms:  # bitmaps and sort buckets: a bounded plan for every search (catalog_service.search)
        found = search_plan.search(conn, query, fetch)
        if found is not None:
            return found
    choice = planner.choose(conn, query)
    if choice.empty:
        return []
    if choice.window is not None:
        return scan_within_window(conn, query, fetch, choice.window, choice.driver)
    return _run(conn, query, choice.plan, fetch, choice.driver)


def scan_within_window(
    conn: Connection, query: ListQuery, fetch: int, window: planner.Window, driver: Driver | None = None
) -> list[Any]:
    """SCAN over at most `window.rows` entries of the sort index; if the page is not full by then,
    the fallback plan answers.

    The rows a bounded scan finds are the first matches in order, so a full page from it is the
    answer; a short page from a window that ended early is not. The fallback answers the whole page
    rather than continuing after the window, so that a page is always one statement (one snapshot:
    a product moved by a concurrent write can neither repeat nor vanish within a page).
    """
    end = window_end(conn, query, window.rows, price=not window.whole_scope)
    rows = _run(conn, query, Plan.SCAN, fetch, None, end)
    if len(rows) >= fetch or end is None:
        return rows
    return _run(conn, query, window.fallback, fetch, driver)


def _run(
    conn: Connection,
    query: ListQuery,
    plan: Plan,
    fetch: int,
    driver: Driver | None,
    end: Keyset | None = None,
) -> list[Any]:
    ids = ids_statement(query, plan, fetch, driver=driver, window_end=end)
    statement: Statement = page_statement(ids, query)
    return list(conn.execute(text(statement.sql), statement.params).fetchall())


def _forced_driver(conn: Connection, query: ListQuery) -> Driver:
    """The rarest term with postings (tests force the POSTINGS plan on any query that has one)."""
    stats = [s for s in planner.term_stats(conn, query.terms) if s.indexed]
    if not stats:
        raise ValueError("no search term of this query has postings")
    return planner.driver(conn, min(stats, key=lambda s: s.df).term)


def window_end(conn: Connection, query: ListQuery, window: int, price: bool = True) -> Keyset | None:
    """The position `window` entries ahead on the sort index, or None if fewer remain.

    Counted among the entries in the query's category and (unless price=False) its price range.
    """
    where = filters(query, price=price)
    add_keyset(where, query, query.after)
    index = SORT_INDEX[(query.category is not None, query.sort)]
    row = conn.execute(
        text(
            f"SELECT p.id, p.{query.sort} AS k FROM products p FORCE INDEX ({index})"
            f" WHERE {where.where()} ORDER BY {order_by(query)} LIMIT {int(window) - 1}, 1"
        ),
        where.params,
    ).first()
    if row is None:
        return None
    value = row.k
    if query.sort == "created_at":
        return Keyset(value.isoformat(timespec="microseconds"), int(row.id))
    if query.sort == "price":
        return Keyset(f"{value:.2f}", int(row.id))
    return Keyset(value, int(row.id))
