"""Query plans: each builds one statement returning the page's rows, in order.

Every plan of a query returns the same rows in the same order; they differ in what drives them,
hence in cost. Tests run every plan of random queries against a brute force.

- SCAN: walk the (category,) sort, id index from the keyset; the price range is checked on the
  index entries (price is in every sort index); search terms are tested on product_search.
  Cost: the rows walked until the page fills, about fetch / share of matching rows.
- PRICE_RANGE: read the price range from the (category,) price index, then sort. Cost: the range.
- POSTINGS: the driving term's postings, which carry category, price and the sort keys, are
  filtered and sorted without touching products; the other terms are tested on product_search in
  sort order until the page fills. Cost: the driving term's document frequency (cheap rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from catalog_service.listing.cursor import Keyset
from catalog_service.listing.query import ListQuery
from catalog_service.listing.sql import (
    PRICE_INDEX,
    PRODUCT_COLUMNS,
    SORT_INDEX,
    Sql,
    add_keyset,
    filters,
    like_word_prefix,
    order_by,
)


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


def ids_statement(
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


def page_statement(ids: Statement, query: ListQuery) -> Statement:
    """The full rows for an ids statement, in the same order, read in the same statement (snapshot)."""
    direction = "DESC" if query.order == "desc" else "ASC"
    sql = (
        f"SELECT {PRODUCT_COLUMNS} FROM ({ids.sql}) o STRAIGHT_JOIN products p ON p.id = o.id"
        f" ORDER BY o.k {direction}, o.id {direction}"
    )
    return Statement(sql, ids.params)
