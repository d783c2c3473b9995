"""Cursors are opaque, signed and bound to their query: anything else is InvalidArgument on "cursor"."""

from __future__ import annotations

import base64
import json

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.listing.cursor import CursorCodec, Keyset
from catalog_service.transport.requests import parse_list_request
from farmlokal_common.errors import InvalidArgument

CODEC = CursorCodec(b"unit-secret")
DEFAULT_POSITION = Keyset("12.50", 42)
PARAMS = {
    "category": "Fruits",
    "min_price": "1",
    "max_price": "50",
    "q": "mango",
    "sort": "price",
    "order": "asc",
}


def cursor_for(params: dict[str, str], keyset: Keyset = DEFAULT_POSITION, codec: CursorCodec = CODEC) -> str:
    query = parse_list_request(pb.ListProductsRequest(**params), codec)
    return codec.encode(query.binding(), keyset)


def rejected(params: dict[str, str], cursor: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_list_request(pb.ListProductsRequest(**params, cursor=cursor), CODEC)
    assert [v.field for v in caught.value.violations] == ["cursor"]


def test_round_trip_and_limit_may_change() -> None:
    token = cursor_for(PARAMS)
    for limit in ("", "5", "100"):
        query = parse_list_request(pb.ListProductsRequest(**PARAMS, limit=limit, cursor=token), CODEC)
        assert query.after == Keyset("12.50", 42)
    # the same query spelled differently is the same query
    respelled = {
        **PARAMS,
        "category": "FRUITS",
        "min_price": "1.00",
        "q": "MANGO",
        "sort": "Price",
        "order": "ASC",
    }
    assert parse_list_request(pb.ListProductsRequest(**respelled, cursor=token), CODEC).after is not None


@pytest.mark.parametrize(
    "change",
    [
        {"category": "Dairy"},
        {"category": ""},
        {"min_price": "2"},
        {"max_price": ""},
        {"q": "mangoes"},
        {"q": ""},
        {"sort": "name"},
        {"order": "desc"},
    ],
)
def test_a_cursor_of_another_query_is_rejected(change: dict[str, str]) -> None:
    rejected({**PARAMS, **change}, cursor_for(PARAMS))


def test_tampering_is_rejected() -> None:
    token = cursor_for(PARAMS)
    _payload, mac = token.split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps([1, "0.01", 1]).encode()).rstrip(b"=").decode()
    rejected(PARAMS, f"{forged_payload}.{mac}")
    for i in range(len(token)):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        rejected(PARAMS, flipped)
    rejected(PARAMS, token + "A")
    rejected(PARAMS, cursor_for(PARAMS, codec=CursorCodec(b"another-secret")))


@pytest.mark.parametrize(
    "garbage",
    ["x", ".", "..", "a.b", "%%%.%%%", "é.é", "\x00", "A" * 5000, "e30.e30", "bnVsbA.AAAA", "W10.AAAA"],
)
def test_garbage_is_rejected(garbage: str) -> None:
    rejected(PARAMS, garbage)


def test_a_signed_payload_of_the_wrong_shape_is_still_invalid() -> None:
    query = parse_list_request(pb.ListProductsRequest(**PARAMS), CODEC)
    for keyset in (Keyset("not-a-price", 1), Keyset("12.50", 0)):
        token = CODEC.encode(query.binding(), keyset)
        rejected(PARAMS, token)
    dated = {**PARAMS, "sort": "created_at"}
    rejected(dated, cursor_for(dated, Keyset("yesterday", 5)))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        CursorCodec(b"")


def test_a_cursor_after_the_longest_name_fits() -> None:
    params = {"sort": "name"}
    longest = "🥭" * 200  # 200 characters of 4 UTF-8 bytes each, the column's maximum
    query = parse_list_request(
        pb.ListProductsRequest(**params, cursor=cursor_for(params, Keyset(longest, 9))), CODEC
    )
    assert query.after == Keyset(longest, 9)
