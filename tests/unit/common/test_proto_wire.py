"""The wire-format walk that names the string field holding invalid UTF-8 (farmlokal_common.proto_wire)."""

from __future__ import annotations

import pytest
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_pb2 as pb
from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from farmlokal_common.proto_wire import invalid_utf8_field

PLACEHOLDER = "\u2603\u2603"  # 6 bytes of UTF-8, replaced by 6 bytes that are not UTF-8
NOT_UTF8 = {
    "lone continuation bytes": b"\xff\xfe\x80\x81\x82\x83",
    "surrogate half": b"\xed\xa0\x80abc",
    "overlong slash": b"\xc0\xafabcd",
    "truncated sequence": b"abcde\xe2",
}


def _spoiled(message: object, bad: bytes) -> bytes:
    raw = message.SerializeToString()  # type: ignore[attr-defined]
    placeholder = PLACEHOLDER.encode()
    assert raw.count(placeholder) == 1 and len(bad) == len(placeholder)
    return raw.replace(placeholder, bad)


@pytest.mark.parametrize("bad", NOT_UTF8.values(), ids=NOT_UTF8.keys())
def test_names_a_top_level_field(bad: bytes) -> None:
    raw = _spoiled(pb.ListProductsRequest(limit="10", category=PLACEHOLDER, q="mango"), bad)
    with pytest.raises(DecodeError):
        pb.ListProductsRequest.FromString(raw)  # what the walk explains
    assert invalid_utf8_field(raw, pb.ListProductsRequest.DESCRIPTOR) == "category"


def test_names_a_field_inside_a_repeated_message() -> None:
    request = ipb.UpsertProductsRequest(
        products=[ipb.ProductInput(name="fine", stock=3), ipb.ProductInput(description=PLACEHOLDER)]
    )
    raw = _spoiled(request, NOT_UTF8["surrogate half"])
    assert invalid_utf8_field(raw, ipb.UpsertProductsRequest.DESCRIPTOR) == "products.description"


def test_names_a_map_key() -> None:
    raw = _spoiled(pb.GetHealthResponse(checks={PLACEHOLDER: pb.HealthCheck(state="ok")}), b"\xff" * 6)
    assert invalid_utf8_field(raw, pb.GetHealthResponse.DESCRIPTOR) == "checks.key"


def test_valid_text_and_unknown_fields_name_nothing() -> None:
    valid = pb.ListProductsRequest(category="Früchte", q="🥭 mango").SerializeToString()
    assert invalid_utf8_field(valid, pb.ListProductsRequest.DESCRIPTOR) is None
    unknown_field_99 = b"\x9a\x06\x02\xff\xfe"  # field 99, length 2, not UTF-8: bytes, never text
    assert invalid_utf8_field(valid + unknown_field_99, pb.ListProductsRequest.DESCRIPTOR) is None


@pytest.mark.parametrize(
    "raw",
    [b"\x1a\x10abc", b"\x1a", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x1b\x00", b"\x0f"],
    ids=["length past the end", "missing length", "endless varint", "group", "wire type 7"],
)
def test_malformed_bytes_name_nothing(raw: bytes) -> None:
    assert invalid_utf8_field(raw, pb.ListProductsRequest.DESCRIPTOR) is None


def test_deep_nesting_stops_without_recursion_error() -> None:
    # Value.list_value (field 6) → ListValue.values (field 1) → Value ..., 10,000 levels deep.
    raw = b"\x1a\x02\xff\xfe"  # innermost: a Value whose string_value (field 3) is not UTF-8
    for _ in range(10_000):
        raw = b"\x0a" + _varint(len(raw)) + raw  # ListValue.values
        raw = b"\x32" + _varint(len(raw)) + raw  # Value.list_value
    assert invalid_utf8_field(raw, struct_pb2.Value.DESCRIPTOR) is None
    shallow = b"\x32\x06\x0a\x04\x1a\x02\xff\xfe"
    assert invalid_utf8_field(shallow, struct_pb2.Value.DESCRIPTOR) == "list_value.values.string_value"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
