"""The product as the service layer sees it, independent of SQL and protobuf."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The columns of a product row, in ProductRecord's field order: reads select them in this order.
PRODUCT_FIELDS = (
    "id",
    "external_id",
    "name",
    "description",
    "category",
    "price",
    "stock",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class ProductRecord:
    id: int
    external_id: str | None
    name: str
    description: str
    category: str
    price: Decimal
    stock: int
    created_at: dt.datetime  # UTC
    updated_at: dt.datetime  # UTC


@dataclass(frozen=True)
class CategoryCount:
    name: str
    product_count: int


def product_from_row(row: Any) -> ProductRecord:
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
