"""Every SQL statement of a listing that is not a search: read here top to bottom, a page's whole
statement is composed in one place.

Plans (every plan of a query returns the same rows in the same order; they differ in what drives
them, hence in cost; tests run every plan of random queries against a brute force):

- SCAN: walk the (category,) sort, id index from the keyset; the price range is checked on the
  index entries (price is in every sort index); search terms are tested on product_search.
  Cost: the rows walked until the page fills, about fetch / share of matching rows.
- PRICE_RANGE: read the price range from the (category,) price index, then sort. Cost: the range.
- POSTINGS: the driving term's postings, which carry category, price and the sort keys, are
  filtered and sorted without touching products; the other terms are tested on product_search in
  sort order until the page fills. Cost: the driving term's document frequency (cheap rows).

A page is one statement (`page`): the ids of the plan in order, joined to their rows, so a product
moved by a concurrent write can neither repeat nor vanish within a page. Keyset predicates use the
expanded form `c < :k OR (c = :k AND id < :id)`: MariaDB and MySQL turn it into an index range,
while the row constructor `(c, id) < (:k, :id)` is a full index scan (field-notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from catalog_service.domain import PRODUCT_FIELDS
from catalog_service.listing.keyset import Keyset, sql_value
from catalog_service.listing.query import ListQuery

PRODUCT_COLUMNS = ", ".join(f"p.{name}" for name in PRODUCT_FIELDS)

# (has category filter, sort) -> the index whose order is (sort, id) after the equality prefix.
SORT_INDEX = {
    (False, "created_at"): "ix_products_created",
    (False, "price"): "ix_products_price",
    (False, "name"): "ix_products_name",
    (True, "created_at"): "ix_products_cat_created",
    (True, "price"): "ix_products_cat_price",
    (True, "name"): "ix_products_cat_name",
}
PRICE_INDEX = {False: "ix_products_price", True: "ix_products_cat_price"}


@dataclass
class Sql:
    """A WHERE clause under construction: conditions joined by AND, with their bound parameters."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, condition: str, **params: Any) -> None:
        self.conditions.append(condition)
        self.params.update(params)

    def where(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "1 = 1"


def filters(query: ListQuery, alias: str = "p", price: bool = True) -> Sql:
    """The query's category and (unless price=False) price range."""
    sql = Sql()
    if query.category is not None:
        sql.add(f"{alias}.category = :category", category=query.category)
    if not price:
        return sql
    if query.min_price is not None:
        sql.add(f"{alias}.price >= :min_price", min_price=query.min_price)
    if query.max_price is not None:
        sql.add(f"{alias}.price <= :max_price", max_price=query.max_price)
    return sql


def add_keyset(
    sql: Sql,
    query: ListQuery,
    after: Keyset | None,
    name: str = "k",
    inclusive: bool = False,
    alias: str = "p",
    id_column: str = "id",
) -> None:
    """Rows strictly after `after` in the query's order (or up to and including it, for a window end).

    Expanded form `c < :k OR (c = :k AND id < :id)`: MariaDB and MySQL turn it into an index range,
    while the row constructor `(c, id) < (:k, :id)` is a full index scan (field-notes).
    """
    if after is None:
        return
    op = "<" if (query.order == "desc") != inclusive else ">"
    id_op = op + "=" if inclusive else op
    column = f"{alias}.{query.sort}"
    sql.add(
        f"({column} {op} :{name} OR ({column} = :{name} AND {alias}.{id_column} {id_op} :{name}_id))",
        **{name: sql_value(query.sort, after.value), f"{name}_id": after.id},
    )


def order_by(query: ListQuery, alias: str = "p", id_column: str = "id") -> str:
    direction = "DESC" if query.order == "desc" else "ASC"
    return f"{alias}.{query.sort} {direction}, {alias}.{id_column} {direction}"


def like_word_prefix(term: str) -> str:
    """LIKE pattern for 'some word of search_text starts with term' (words are preceded by a space)."""
    return "% " + escape_like(term) + "%"


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Plan(Enum):
    SCAN = "scan"
    PRICE_RANGE = "price_range"
    POSTINGS = "postings"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Driver:
    """The search term whose postings drive the POSTINGS plan, with the ids of the words it prefixes."""

    term: str
    word_ids: tuple[int, ...]


def _ids(
    query: ListQuery,
    plan: Plan,
    fetch: int,
    *,
    driver: Driver | None = None,
    window_end: Keyset | None = None,
) -> Statement:
    """SELECT id, k (sort key) of the next `fetch` rows after query.after, by the given plan.

    window_end (SCAN only) bounds the walk to rows up to that position, to cap its cost.
    """
    if plan is Plan.POSTINGS:
        if driver is None:
            raise ValueError("the postings plan needs a driving term")
        return _postings(query, fetch, driver)
    where = filters(query)
    add_keyset(where, query, query.after)
    if window_end is not None:
        add_keyset(where, query, window_end, name="w", inclusive=True)
    search_join = _term_tests(where, query.terms, alias="p", id_column="id")
    index = (
        SORT_INDEX[(query.category is not None, query.sort)]
        if plan is Plan.SCAN
        else PRICE_INDEX[query.category is not None]
    )
    sql = (
        f"SELECT p.id AS id, p.{query.sort} AS k FROM products p FORCE INDEX ({index}){search_join}"
        f" WHERE {where.where()} ORDER BY {order_by(query)} LIMIT {int(fetch)}"
    )
    return Statement(sql, where.params)


def _term_tests(where: Sql, terms: tuple[str, ...], alias: str, id_column: str) -> str:
    """Adds a LIKE per term on product_search and returns the join it needs ('' if no term)."""
    for i, term in enumerate(terms):
        where.add(f"s.search_text LIKE :t{i}", **{f"t{i}": like_word_prefix(term)})
    if not terms:
        return ""
    return f" STRAIGHT_JOIN product_search s ON s.product_id = {alias}.{id_column}"


def _postings(query: ListQuery, fetch: int, driver: Driver) -> Statement:
    multi_word = len(driver.word_ids) > 1
    alias = "sp" if multi_word else "c"
    where = filters(query, alias=alias)
    add_keyset(where, query, query.after, alias=alias, id_column="product_id")
    ids = ", ".join(str(int(i)) for i in driver.word_ids) or "NULL"
    where.add(f"{alias}.word_id IN ({ids})")
    if multi_word:
        # A product may hold several words of the prefix: one candidate each.
        source = (
            f"(SELECT DISTINCT sp.product_id, sp.{query.sort} FROM search_postings sp"
            f" WHERE {where.where()}) c"
        )
        where = Sql(params=dict(where.params))
    else:
        source = "search_postings c"
    # Words are stored whole up to 64 characters, so a shorter driving term needs no re-test.
    others = tuple(t for t in query.terms if t != driver.term or len(t) >= 64)
    search_join = _term_tests(where, others, alias="c", id_column="product_id")
    sql = (
        f"SELECT c.product_id AS id, c.{query.sort} AS k FROM {source}{search_join}"
        f" WHERE {where.where()} ORDER BY {order_by(query, 'c', 'product_id')} LIMIT {int(fetch)}"
    )
    return Statement(sql, where.params)


def page(
    query: ListQuery,
    plan: Plan,
    fetch: int,
    *,
    driver: Driver | None = None,
    window_end: Keyset | None = None,
) -> Statement:
    """The next `fetch` rows (PRODUCT_COLUMNS) after query.after by the given plan: its ids in order,
    joined to their rows in the same statement (one snapshot)."""
    ids = _ids(query, plan, fetch, driver=driver, window_end=window_end)
    direction = "DESC" if query.order == "desc" else "ASC"
    sql = (
        f"SELECT {PRODUCT_COLUMNS} FROM ({ids.sql}) o STRAIGHT_JOIN products p ON p.id = o.id"
        f" ORDER BY o.k {direction}, o.id {direction}"
    )
    return Statement(sql, ids.params)


def window_end(query: ListQuery, window: int, price: bool = True) -> Statement:
    """(id, k) of the entry `window` entries ahead on the sort index, counted among the entries in
    the query's category and (unless price=False) its price range."""
    where = filters(query, price=price)
    add_keyset(where, query, query.after)
    index = SORT_INDEX[(query.category is not None, query.sort)]
    sql = (
        f"SELECT p.id, p.{query.sort} AS k FROM products p FORCE INDEX ({index})"
        f" WHERE {where.where()} ORDER BY {order_by(query)} LIMIT {int(window) - 1}, 1"
    )
    return Statement(sql, where.params)


def product(product_id: int) -> Statement:
    return Statement(f"SELECT {', '.join(PRODUCT_FIELDS)} FROM products WHERE id = :id", {"id": product_id})


def categories() -> Statement:
    return Statement(
        "SELECT category, product_count FROM category_counts WHERE product_count > 0 ORDER BY category", {}
    )
