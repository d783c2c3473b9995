"""The one validation of product data, whoever writes it (supplier sync, webhook events, internal RPCs).

Every write path builds its fields through `product_fields` (a whole product) or `product_changes`
(some fields of one), so a rule stated here holds for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from farmlokal_common.errors import FieldViolation, InvalidArgument
from farmlokal_common.request_text import has_control_character

MAX_PRICE = Decimal("99999999.99")  # DECIMAL(10,2)
MAX_STOCK = 2_000_000_000  # below the INT column's 2**31 - 1, so a delta cannot overflow it
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class TextRule:
    max_length: int
    required: bool
    multiline: bool  # may hold tab and line breaks; no field may hold other control characters


TEXT_RULES = {
    "name": TextRule(200, required=True, multiline=False),
    "description": TextRule(5000, required=False, multiline=True),
    "category": TextRule(64, required=True, multiline=False),
}


@dataclass(frozen=True)
class ProductFields:
    external_id: str
    name: str
    description: str
    category: str
    price: Decimal
    stock: int


def parse_price(raw: str, field: str = "price") -> Decimal:
    try:
        price = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidArgument(
            FieldViolation(field, f"{field} must be a decimal string like 499.00")
        ) from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE or price.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidArgument(
            FieldViolation(field, f"{field} must be between 0 and {MAX_PRICE} with at most 2 decimals")
        )
    return price.quantize(Decimal("0.01"))


def check_text(value: str, field: str, rule: TextRule, violations: list[FieldViolation]) -> str:
    value = value.strip()
    if rule.required and not value:
        violations.append(FieldViolation(field, f"{field} is required"))
    elif len(value) > rule.max_length:
        violations.append(FieldViolation(field, f"{field} must be at most {rule.max_length} characters"))
    elif has_control_character(value, allow_line_breaks=rule.multiline):
        allowed = " (tab and line breaks are allowed)" if rule.multiline else ""
        violations.append(FieldViolation(field, f"{field} must not contain control characters{allowed}"))
    return value


def check_stock(stock: int, field: str, violations: list[FieldViolation]) -> int:
    if not 0 <= stock <= MAX_STOCK:
        violations.append(FieldViolation(field, f"{field} must be between 0 and {MAX_STOCK}"))
    return stock


def _price(raw: str, field: str, violations: list[FieldViolation]) -> Decimal:
    try:
        return parse_price(raw, field)
    except InvalidArgument as error:
        violations.extend(error.violations)
        return Decimal(0)


def product_fields(
    external_id: str, name: str, description: str, category: str, price: str, stock: int, prefix: str = ""
) -> ProductFields:
    """All fields checked at once so one error lists every bad field."""
    violations: list[FieldViolation] = []
    if not _EXTERNAL_ID.fullmatch(external_id):
        violations.append(
            FieldViolation(
                f"{prefix}external_id", "external_id must be 1-64 characters of A-Z a-z 0-9 . _ : -"
            )
        )
    texts = {
        field: check_text(value, f"{prefix}{field}", TEXT_RULES[field], violations)
        for field, value in (("name", name), ("description", description), ("category", category))
    }
    fields = ProductFields(
        external_id=external_id,
        price=_price(price, f"{prefix}price", violations),
        stock=check_stock(stock, f"{prefix}stock", violations),
        **texts,
    )
    if violations:
        raise InvalidArgument(violations)
    return fields


def product_changes(
    name: str | None = None,
    description: str | None = None,
    category: str | None = None,
    price: str | None = None,
    stock: int | None = None,
) -> dict[str, Any]:
    """The columns to change (None: keep), every given field checked at once."""
    violations: list[FieldViolation] = []
    changes: dict[str, Any] = {
        field: None if value is None else check_text(value, field, TEXT_RULES[field], violations)
        for field, value in (("name", name), ("description", description), ("category", category))
    }
    changes["price"] = None if price is None else _price(price, "price", violations)
    changes["stock"] = None if stock is None else check_stock(stock, "stock", violations)
    if violations:
        raise InvalidArgument(violations)
    return changes
