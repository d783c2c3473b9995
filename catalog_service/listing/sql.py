"""SQL fragments of the listing: filters, keyset predicates (expanded form), order and index per shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from catalog_service.domain import PRODUCT_FIELDS
from catalog_service.listing.cursor import Keyset
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


def keyset_value(sort: str, value: str) -> dt.datetime | Decimal | str:
    if sort == "created_at":
        return dt.datetime.fromisoformat(value)
    if sort == "price":
        return Decimal(value)
    return value


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
        **{name: keyset_value(query.sort, after.value), f"{name}_id": after.id},
    )


def order_by(query: ListQuery, alias: str = "p", id_column: str = "id") -> str:
    direction = "DESC" if query.order == "desc" else "ASC"
    return f"{alias}.{query.sort} {direction}, {alias}.{id_column} {direction}"


def like_word_prefix(term: str) -> str:
    """LIKE pattern for 'some word of search_text starts with term' (words are preceded by a space)."""
    return "% " + escape_like(term) + "%"


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
