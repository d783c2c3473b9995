"""Validation of product fields coming from writers (supplier sync, webhook events, internal RPCs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from farmlokal_common.errors import FieldViolation, InvalidArgument

MAX_PRICE = Decimal("99999999.99")
MAX_STOCK = 2_000_000_000
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


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


def check_text(
    value: str, field: str, max_length: int, violations: list[FieldViolation], required: bool = True
) -> str:
    value = value.strip()
    if required and not value:
        violations.append(FieldViolation(field, f"{field} is required"))
    elif len(value) > max_length:
        violations.append(FieldViolation(field, f"{field} must be at most {max_length} characters"))
    return value


def check_stock(stock: int, field: str, violations: list[FieldViolation]) -> int:
    if not 0 <= stock <= MAX_STOCK:
        violations.append(FieldViolation(field, f"{field} must be between 0 and {MAX_STOCK}"))
    return stock


def product_fields(
    external_id: str, name: str, description: str, category: str, price: str, stock: int, prefix: str = ""
) -> ProductFields:
    """All fields checked at once so one error lists every bad field."""
    violations: list[FieldViolation] = []
    if not _EXTERNAL_ID.match(external_id):
        violations.append(
            FieldViolation(
                f"{prefix}external_id", "external_id must be 1-64 characters of A-Z a-z 0-9 . _ : -"
            )
        )
    fields = dict(
        name=check_text(name, f"{prefix}name", 200, violations),
        description=check_text(description, f"{prefix}description", 5000, violations, required=False),
        category=check_text(category, f"{prefix}category", 64, violations),
        stock=check_stock(stock, f"{prefix}stock", violations),
    )
    try:
        parsed_price = parse_price(price, f"{prefix}price")
    except InvalidArgument as error:
        violations.extend(error.violations)
        parsed_price = Decimal(0)
    if violations:
        raise InvalidArgument(violations)
    return ProductFields(external_id=external_id, price=parsed_price, **fields)  # type: ignore[arg-type]
