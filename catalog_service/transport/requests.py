"""Request messages into validated values: one FieldViolation per bad field, all reported together."""

from __future__ import annotations

import re
from decimal import Decimal

from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.listing import keyset
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.query import (
    BIGINT_UNSIGNED_MAX,
    DEFAULT_LIMIT,
    MAX_CATEGORY_LENGTH,
    MAX_LIMIT,
    MAX_Q_LENGTH,
    ORDERS,
    SORTS,
    ListQuery,
)
from catalog_service.listing.text import MIN_TERM_LENGTH, query_terms
from catalog_service.writes import Selector
from farmlokal_common.errors import FieldViolation, InvalidArgument

_DIGITS = re.compile(r"[0-9]{1,20}")
_PRICE = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")
_PRICE_RULE = "a decimal number between 0 and 99999999.99 with at most 2 decimal places, e.g. 12.50"


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
        if not keyset.well_formed(sort, after.value) or after.id > BIGINT_UNSIGNED_MAX:
            raise InvalidArgument(FieldViolation("cursor", "cursor is not valid for this query"))
        query = ListQuery(limit, category, min_price, max_price, terms, sort, order, after)
    return query


def parse_selector(
    request: ipb.UpdateProductRequest | ipb.DeleteProductRequest | ipb.AdjustStockRequest,
) -> Selector:
    which = request.WhichOneof("selector")
    if which == "id" and request.id > 0:
        return Selector(id=request.id)
    if which == "external_id" and request.external_id:
        return Selector(external_id=request.external_id)
    raise InvalidArgument(FieldViolation("selector", "give a positive id or a non-empty external_id"))
