"""GET /v1/products parameters: validation into a normalised ListQuery, its cache key and cursor binding."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.listing.cursor import CursorCodec, Keyset
from catalog_service.listing.text import MIN_TERM_LENGTH, query_terms
from farmlokal_common.errors import FieldViolation, InvalidArgument

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_Q_LENGTH = 100
MAX_CATEGORY_LENGTH = 64  # the column's width: a longer name cannot exist
MAX_PRICE = Decimal("99999999.99")  # the largest DECIMAL(10, 2)
SORTS = ("created_at", "price", "name")
ORDERS = ("desc", "asc")
BIGINT_UNSIGNED_MAX = 2**64 - 1

_DIGITS = re.compile(r"[0-9]{1,20}")
_PRICE = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")
_PRICE_RULE = "a decimal number between 0 and 99999999.99 with at most 2 decimal places, e.g. 12.50"


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


def parse_product_id(raw: str) -> int:
    text = raw.strip()
    if _DIGITS.fullmatch(text) and 0 < int(text) <= BIGINT_UNSIGNED_MAX:
        return int(text)
    raise InvalidArgument(FieldViolation("id", "id must be a positive integer"))


def parse_list_request(request: pb.ListProductsRequest, cursors: CursorCodec) -> ListQuery:
    """Validates every parameter; one FieldViolation per bad field, all reported together."""
    violations: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        violations.append(FieldViolation(field, description))

    limit = DEFAULT_LIMIT
    if request.limit.strip():
        raw = request.limit.strip()
        if _DIGITS.fullmatch(raw) and 1 <= int(raw) <= MAX_LIMIT:
            limit = int(raw)
        else:
            bad("limit", f"limit must be an integer between 1 and {MAX_LIMIT} (default {DEFAULT_LIMIT})")

    category = request.category.strip() or None
    if category is not None and len(category) > MAX_CATEGORY_LENGTH:
        bad("category", f"category must be at most {MAX_CATEGORY_LENGTH} characters")

    prices: dict[str, Decimal | None] = {}
    for field in ("min_price", "max_price"):
        raw = getattr(request, field).strip()
        prices[field] = None
        if raw:
            if _PRICE.fullmatch(raw):
                prices[field] = Decimal(raw).quantize(Decimal("0.01"))
            else:
                bad(field, f"{field} must be {_PRICE_RULE}")
    min_price, max_price = prices["min_price"], prices["max_price"]
    if min_price is not None and max_price is not None and min_price > max_price:
        bad("min_price", "min_price must not be greater than max_price")

    terms: tuple[str, ...] = ()
    if request.q:
        if len(request.q) > MAX_Q_LENGTH:
            bad("q", f"q must be at most {MAX_Q_LENGTH} characters")
        else:
            terms = query_terms(request.q)
            if not terms:
                bad(
                    "q",
                    f"q must contain at least one word of {MIN_TERM_LENGTH} or more letters or digits"
                    f" (shorter words are ignored)",
                )

    sort = request.sort.strip().lower() or "created_at"
    if sort not in SORTS:
        bad("sort", f"sort must be one of {', '.join(SORTS)} (default created_at)")
    order = request.order.strip().lower() or "desc"
    if order not in ORDERS:
        bad("order", "order must be asc or desc (default desc)")

    if violations:
        raise InvalidArgument(violations)
    query = ListQuery(limit, category, min_price, max_price, terms, sort, order)
    if request.cursor:
        after = cursors.decode(request.cursor, query.binding())
        if not _keyset_value_ok(sort, after.value) or after.id > BIGINT_UNSIGNED_MAX:
            raise InvalidArgument(FieldViolation("cursor", "cursor is not valid for this query"))
        query = ListQuery(limit, category, min_price, max_price, terms, sort, order, after)
    return query


def _keyset_value_ok(sort: str, value: str) -> bool:
    """Defence in depth: a signed cursor always passes, but a malformed one must never reach SQL."""
    if sort == "price":
        return _PRICE.fullmatch(value) is not None
    if sort == "created_at":
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return len(value) <= 200


def keyset_of(sort: str, created_at: dt.datetime, price: Decimal, name: str, row_id: int) -> Keyset:
    """The cursor position after a row, as the canonical string of its sort value."""
    if sort == "price":
        return Keyset(f"{price:.2f}", row_id)
    if sort == "created_at":
        return Keyset(created_at.replace(tzinfo=None).isoformat(timespec="microseconds"), row_id)
    return Keyset(name, row_id)
