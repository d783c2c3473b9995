"""Every parameter of GET /v1/products: defaults, normalisation, and a field violation per bad value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.listing.cursor import CursorCodec, Keyset
from catalog_service.listing.query import ListQuery
from catalog_service.transport.requests import parse_list_request, parse_product_id
from farmlokal_common.errors import InvalidArgument

CODEC = CursorCodec(b"unit-secret")


def parse(**params: str) -> ListQuery:
    return parse_list_request(pb.ListProductsRequest(**params), CODEC)


def violations(**params: str) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        parse(**params)
    return {v.field: v.description for v in caught.value.violations}


def test_defaults() -> None:
    assert parse() == ListQuery(20, None, None, None, (), "created_at", "desc", None)


@pytest.mark.parametrize("limit", ["0", "101", "-5", "abc", "1.5", "1e2", " ", "99999999999999999999999"])
def test_bad_limits_name_the_range(limit: str) -> None:
    if not limit.strip():
        assert parse(limit=limit).limit == 20
        return
    assert violations(limit=limit) == {"limit": "limit must be an integer between 1 and 100 (default 20)"}


@pytest.mark.parametrize(("limit", "expected"), [("1", 1), ("100", 100), (" 7 ", 7), ("020", 20)])
def test_good_limits(limit: str, expected: int) -> None:
    assert parse(limit=limit).limit == expected


@pytest.mark.parametrize(
    "price", ["-1", "-0.01", "abc", "1.234", "1e3", "NaN", "Infinity", "100000000", "1,5", "0x10", ".5", "5."]
)
@pytest.mark.parametrize("field", ["min_price", "max_price"])
def test_bad_prices_name_what_is_allowed(field: str, price: str) -> None:
    found = violations(**{field: price})
    assert list(found) == [field]
    assert ">=" in found[field] or "between 0 and 99999999.99" in found[field]
    assert "2 decimal places" in found[field]


def test_prices_are_normalised_to_two_places() -> None:
    query = parse(min_price="0", max_price="99999999.99")
    assert (query.min_price, query.max_price) == (Decimal("0.00"), Decimal("99999999.99"))
    assert parse(min_price="10").cache_key() == parse(min_price="10.00").cache_key()


def test_min_above_max() -> None:
    assert violations(min_price="10", max_price="9.99") == {
        "min_price": "min_price must not be greater than max_price"
    }
    assert parse(min_price="5", max_price="5").min_price == Decimal("5.00")


def test_sort_and_order_are_checked_and_case_insensitive() -> None:
    assert violations(sort="popularity", order="up") == {
        "sort": "sort must be one of created_at, price, name (default created_at)",
        "order": "order must be asc or desc (default desc)",
    }
    query = parse(sort="PRICE", order="Asc")
    assert (query.sort, query.order) == ("price", "asc")


def test_q_length_and_usable_terms() -> None:
    assert violations(q="a" * 101) == {"q": "q must be at most 100 characters"}
    assert parse(q="a" * 100).terms == ("a" * 100,)
    for useless in ("ab cd", "  ", "!!!", "a b c"):
        assert "at least one word of 3 or more" in violations(q=useless)["q"]


def test_q_is_tokenised_like_the_index() -> None:
    assert parse(q="Organic  MANGO, 1kg of mangoes!").terms == ("1kg", "mangoes", "organic")
    assert parse(q="crème brûlée").terms == ("brulee", "creme")
    assert parse(q="man mango").terms == ("mango",)  # 'man' adds nothing once 'mango' is required
    assert parse(q="mango organic").cache_key() == parse(q="ORGANIC  mango").cache_key()


def test_category_is_case_insensitive_in_the_cache_key_and_bounded() -> None:
    assert parse(category="Fruits").cache_key() == parse(category="fRUITS").cache_key()
    assert parse(category="  ").category is None
    assert violations(category="x" * 65) == {"category": "category must be at most 64 characters"}


def test_every_bad_field_is_reported_at_once() -> None:
    found = violations(limit="0", min_price="-1", sort="x", order="y", q="ab")
    assert set(found) == {"limit", "min_price", "sort", "order", "q"}


def test_cache_key_covers_limit_and_position_but_not_parameter_spelling() -> None:
    base = parse(category="Dairy", sort="price", order="asc")
    assert base.cache_key() == parse(order="ASC", sort="price", category="dairy").cache_key()
    assert base.cache_key() == parse(category="Dairy", sort="price", order="asc", limit="20").cache_key()
    assert base.cache_key() != parse(category="Dairy", sort="price", order="asc", limit="21").cache_key()
    token = CODEC.encode(base.binding(), Keyset("2.50", 7))
    later = parse(category="Dairy", sort="price", order="asc", cursor=token)
    assert later.after == Keyset("2.50", 7)
    assert later.cache_key() != base.cache_key()
    assert parse(order="desc").cache_key() == parse().cache_key()


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.0", "", " ", "18446744073709551616", "1e3"])
def test_bad_product_ids(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_product_id(raw)
    assert [v.field for v in caught.value.violations] == ["id"]


def test_good_product_ids() -> None:
    assert parse_product_id("42") == 42
    assert parse_product_id("18446744073709551615") == 2**64 - 1
