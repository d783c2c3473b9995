"""The one validation of product data for every write path (catalog_service.product_input)."""

from __future__ import annotations

import pytest

from catalog_service.product_input import MAX_STOCK, product_changes, product_fields
from farmlokal_common.errors import InvalidArgument

GOOD = dict(
    external_id="sup-1", name="Mango", description="sweet\n\tripe", category="Fruits", price="42.5", stock=3
)


def _fields_named(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.description for v in error.value.violations}


def test_good_product() -> None:
    fields = product_fields(**GOOD)  # type: ignore[arg-type]
    assert (fields.name, str(fields.price), fields.description) == ("Mango", "42.50", "sweet\n\tripe")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("category", "fru\x00its", "category must not contain control characters"),
        ("category", "Fru\nits", "category must not contain control characters"),
        ("name", "Mango\x07", "name must not contain control characters"),
        ("name", "Man\u0085go", "name must not contain control characters"),
        ("description", "\x1b[31mred", "description must not contain control characters (tab and line"),
        ("name", "x" * 201, "name must be at most 200 characters"),
        ("category", "  ", "category is required"),
        ("external_id", "abc\n", "external_id must be 1-64 characters"),
        ("external_id", "a" * 65, "external_id must be 1-64 characters"),
        ("price", "NaN", "price must be between 0 and"),
        ("price", "-1", "price must be between 0 and"),
        ("price", "1.005", "with at most 2 decimals"),
        ("price", "abc", "price must be a decimal string"),
        ("stock", -1, f"stock must be between 0 and {MAX_STOCK}"),
        ("stock", 2**31 - 1, f"stock must be between 0 and {MAX_STOCK}"),
    ],
)
def test_bad_field(field: str, value: object, says: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        product_fields(**{**GOOD, field: value}, prefix="products[0].")  # type: ignore[arg-type]
    assert says in _fields_named(error)[f"products[0].{field}"]


def test_every_bad_field_is_listed_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        product_fields(**{**GOOD, "name": "", "category": "a\x00", "price": "x", "stock": -5})  # type: ignore[arg-type]
    assert set(_fields_named(error)) == {"name", "category", "price", "stock"}


def test_changes_use_the_same_rules() -> None:
    assert product_changes(price="3", stock=4) == {
        "name": None,
        "description": None,
        "category": None,
        "price": product_fields(**{**GOOD, "price": "3"}).price,  # type: ignore[arg-type]
        "stock": 4,
    }
    with pytest.raises(InvalidArgument) as error:
        product_changes(category="fru\x00its", price="1.001", stock=MAX_STOCK + 1)
    assert set(_fields_named(error)) == {"category", "price", "stock"}
