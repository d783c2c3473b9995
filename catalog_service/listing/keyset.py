"""A page's position in its sort order: the one place that writes a sort value as text and reads it back.

A Keyset is the sort value of the last row of a page (its canonical string) and that row's id, the
tie-break. Cursors carry it (cursor.py), SQL compares with it (statements.py), the search plan
starts from it (catalog_service.search).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog_service.domain import ProductRecord

SORT_VALUE_MAX_LENGTH = 200  # longer than any name the column holds
_PRICE_TEXT = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")


@dataclass(frozen=True)
class Keyset:
    """Position after the last row of a page: its sort value (canonical string) and its id."""

    value: str
    id: int


def canonical(sort: str, value: Any) -> str:
    """A sort column's value as the text a cursor carries."""
    if sort == "created_at":
        return str(value.replace(tzinfo=None).isoformat(timespec="microseconds"))
    if sort == "price":
        return f"{value:.2f}"
    return str(value)


def after_row(sort: str, value: Any, row_id: int) -> Keyset:
    """The position after a row, from its raw sort value (a datetime, Decimal or str)."""
    return Keyset(canonical(sort, value), int(row_id))


def after_product(sort: str, product: ProductRecord) -> Keyset:
    """The position after a product, in the given sort order."""
    value = {"created_at": product.created_at, "price": product.price, "name": product.name}[sort]
    return after_row(sort, value, product.id)


def sql_value(sort: str, text: str) -> dt.datetime | Decimal | str:
    """The canonical text read back as the value SQL compares the sort column with."""
    if sort == "created_at":
        return dt.datetime.fromisoformat(text)
    if sort == "price":
        return Decimal(text)
    return text


def well_formed(sort: str, text: str) -> bool:
    """Defence in depth: a signed cursor always passes, but a malformed one must never reach SQL."""
    if sort == "price":
        return _PRICE_TEXT.fullmatch(text) is not None
    if sort == "created_at":
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            return False
        return True
    return len(text) <= SORT_VALUE_MAX_LENGTH
