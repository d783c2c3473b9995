"""Step 2 of the search plan and its last check: small candidate sets read by primary key, and the page's
rows read by id and checked against what ordered them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.domain import PRODUCT_FIELDS
from catalog_service.listing.keyset import sql_value
from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import PRODUCT_COLUMNS, escape_like
from catalog_service.listing.text import index_words, matches
from catalog_service.search.bitmaps import (
    Reads,
)
from catalog_service.search.buckets import position_condition


def id_list(ids: Any) -> str:
    return ", ".join(str(int(i)) for i in ids)


def filters(query: ListQuery, alias: str = "p") -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if query.category is not None:
        conditions.append(f"{alias}.category = :category")
        params["category"] = query.category
    if query.min_price is not None:
        conditions.append(f"{alias}.price >= :min_price")
        params["min_price"] = query.min_price
    if query.max_price is not None:
        conditions.append(f"{alias}.price <= :max_price")
        params["max_price"] = query.max_price
    if query.after is not None:
        op = "<" if query.order == "desc" else ">"
        cond, p = position_condition(
            f"{alias}.{query.sort}",
            f"{alias}.id",
            op,
            "k",
            sql_value(query.sort, query.after.value),
            query.after.id,
        )
        conditions.append(cond)
        params.update(p)
    return conditions, params


def order(query: ListQuery, alias: str = "p") -> str:
    direction = "DESC" if query.order == "desc" else "ASC"
    return f"{alias}.{query.sort} {direction}, {alias}.id {direction}"


def direct_page(
    conn: Connection,
    query: ListQuery,
    candidates: BitMap,
    fetch: int,
    reads: Reads,
    untested: tuple[str, ...] = (),
) -> list[Any] | None:
    conditions, params = filters(query)
    conditions.insert(0, f"p.id IN ({id_list(candidates)})")
    join = ""
    if untested:
        join = " STRAIGHT_JOIN product_search s ON s.product_id = p.id"
        for i, term in enumerate(untested):
            conditions.append(f"s.search_text LIKE :u{i}")
            params[f"u{i}"] = "% " + escape_like(term) + "%"
        reads.lookups += len(candidates)
    rows = list(
        conn.execute(
            text(
                f"SELECT {PRODUCT_COLUMNS} FROM products p{join} WHERE {' AND '.join(conditions)}"
                f" ORDER BY {order(query)} LIMIT {int(fetch)}"
            ),
            params,
        ).fetchall()
    )
    reads.statements += 1
    reads.lookups += len(candidates)
    reads.steps.append(f"direct {len(candidates)}")
    return rows if rows_match(query, rows) else None


def page_rows(
    conn: Connection, query: ListQuery, ordered: list[tuple[int, Any]], reads: Reads
) -> list[Any] | None:
    if not ordered:
        return []
    ids = [i for i, _ in ordered]
    if len(set(ids)) != len(ids):
        return None
    conditions = [f"p.id IN ({id_list(ids)})"]
    params: dict[str, Any] = {}
    if query.category is not None:
        conditions.append("p.category = :category")
        params["category"] = query.category
    rows = conn.execute(
        text(f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE {' AND '.join(conditions)}"), params
    ).fetchall()
    reads.statements += 1
    reads.lookups += len(ids)
    by_id = {int(r[0]): r for r in rows}
    key_at = PRODUCT_FIELDS.index(query.sort)
    page = []
    for product_id, key in ordered:
        row = by_id.get(product_id)
        if row is None or row[key_at] != key:
            return None
        page.append(row)
    return page if rows_match(query, page) else None


_NAME, _DESCRIPTION, _PRICE = (PRODUCT_FIELDS.index(f) for f in ("name", "description", "price"))


def rows_match(query: ListQuery, rows: list[Any]) -> bool:
    for row in rows:
        if not matches(query.terms, index_words(row[_NAME], row[_DESCRIPTION])):
            return False
        price: Decimal = row[_PRICE]
        if (query.min_price is not None and price < query.min_price) or (
            query.max_price is not None and price > query.max_price
        ):
            return False
    return True
