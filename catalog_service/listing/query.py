"""A listing query, validated and normalised: what a page depends on, its cache key and cursor binding."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from catalog_service.listing.keyset import Keyset

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_Q_LENGTH = 100
MAX_CATEGORY_LENGTH = 64  # the column's width: a longer name cannot exist
MAX_PRICE = Decimal("99999999.99")  # the largest DECIMAL(10, 2)
SORTS = ("created_at", "price", "name")
ORDERS = ("desc", "asc")
BIGINT_UNSIGNED_MAX = 2**64 - 1


@dataclass(frozen=True)
class ListQuery:
    """A fully validated and normalised listing query; `after` is the keyset of the previous page."""

    limit: int = DEFAULT_LIMIT
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    terms: tuple[str, ...] = ()
    sort: str = "created_at"
    order: str = "desc"
    after: Keyset | None = None

    def binding(self) -> str:
        """What a cursor is bound to: everything but the limit and the position."""
        parts = [
            f"category={self.category.casefold() if self.category is not None else ''}",
            f"min_price={_money(self.min_price)}",
            f"max_price={_money(self.max_price)}",
            f"q={' '.join(self.terms)}",
            f"sort={self.sort}",
            f"order={self.order}",
        ]
        return "&".join(parts)

    def canonical(self) -> str:
        after = f"{self.after.value}|{self.after.id}" if self.after else ""
        return f"{self.binding()}&limit={self.limit}&after={after}"

    def cache_key(self) -> str:
        """Equal for requests that must return the same page (parameter order, case, defaults)."""
        return "products:v1:" + hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:40]


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"
