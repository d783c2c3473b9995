"""The product as the service layer sees it, independent of SQL and protobuf."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


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
