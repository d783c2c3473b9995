"""SQL of the catalog's products on the write path: each function runs in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from catalog_service.domain import PRODUCT_FIELDS, ProductRecord, product_from_row
from catalog_service.product_input import ProductFields

_COLUMNS = ", ".join(PRODUCT_FIELDS)


def lock(conn: Connection, column: str, value: int | str) -> ProductRecord | None:
    """One product by `id` or `external_id`, locked for the rest of the transaction."""
    if column not in ("id", "external_id"):
        raise ValueError(f"products are selected by id or external_id, not {column}")
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM products WHERE {column} = :v FOR UPDATE"), {"v": value}
    ).first()
    return product_from_row(row) if row is not None else None


def by_external_ids(conn: Connection, external_ids: Sequence[str], lock: bool = False) -> list[ProductRecord]:
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM products WHERE external_id IN :ids" + (" FOR UPDATE" if lock else "")
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(external_ids)},
    ).fetchall()
    return [product_from_row(r) for r in rows]


def read(conn: Connection, product_id: int) -> ProductRecord:
    return product_from_row(
        conn.execute(text(f"SELECT {_COLUMNS} FROM products WHERE id = :id"), {"id": product_id}).one()
    )


def insert(conn: Connection, products: Sequence[ProductFields], now: dt.datetime) -> None:
    conn.execute(
        text(
            "INSERT INTO products (external_id, name, description, category, price, stock,"
            " created_at, updated_at) VALUES (:external_id, :name, :description, :category,"
            " :price, :stock, :now, :now)"
        ),
        [{**p.__dict__, "now": now} for p in products],
    )


def replace(conn: Connection, product: ProductFields, now: dt.datetime) -> None:
    """Every supplier field of the product with this external_id."""
    conn.execute(
        text(
            "UPDATE products SET name = :name, description = :description, category = :category,"
            " price = :price, stock = :stock, updated_at = :now WHERE external_id = :external_id"
        ),
        {**product.__dict__, "now": now},
    )


CHANGEABLE = frozenset({"name", "description", "category", "price", "stock"})


def change(conn: Connection, product_id: int, values: dict[str, Any], now: dt.datetime) -> None:
    unknown = set(values) - CHANGEABLE
    if unknown:
        raise ValueError(f"not product fields: {sorted(unknown)}")
    sets = ", ".join(f"{column} = :{column}" for column in sorted(values))
    conn.execute(
        text(f"UPDATE products SET {sets}, updated_at = :now WHERE id = :id"),
        {**values, "now": now, "id": product_id},
    )


def add_stock(conn: Connection, product_id: int, delta: int, now: dt.datetime) -> None:
    conn.execute(
        text("UPDATE products SET stock = stock + :d, updated_at = :now WHERE id = :id"),
        {"d": delta, "now": now, "id": product_id},
    )


def delete(conn: Connection, product_id: int) -> None:
    conn.execute(text("DELETE FROM products WHERE id = :id"), {"id": product_id})
