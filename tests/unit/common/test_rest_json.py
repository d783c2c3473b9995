"""farmlokal_common.rest_json: the compiled printer agrees with json_format, and what it cannot print
goes through json_format. (Byte equality with Envoy's own printing: tests/edge/test_rest_json_body.py.)"""

from __future__ import annotations

import json
import random

from farmlokal.catalog.v1 import catalog_pb2 as pb
from google.api import httpbody_pb2
from google.protobuf import json_format, timestamp_pb2

from farmlokal_common import rest_json


def _page(rng: random.Random) -> pb.ListProductsResponse:
    products = []
    for index in range(rng.randint(0, 5)):
        product = pb.Product(
            id=rng.choice([0, 1, 2**63 - 1, rng.randint(1, 10**12)]),
            name=rng.choice(["", "Mango", 'a "b" \\ <c> é 🥭 \u2028']),
            stock=rng.choice([0, -1, 2**31 - 1]),
            price="1.00" if index % 2 else "",
        )
        if rng.random() < 0.7:
            product.created_at.FromSeconds(rng.randint(-62135596800, 253402300799))
            product.created_at.nanos = rng.choice([0, 1, 5_000, 120_000_000, 999_999_999])
        products.append(product)
    return pb.ListProductsResponse(
        products=products, next_cursor=rng.choice(["", "c1"]), has_more=rng.random() < 0.5
    )


def test_the_compiled_printer_is_json_format_in_declaration_order() -> None:
    rng = random.Random(7)
    for _ in range(300):
        page = _page(rng)
        expected = json_format.MessageToDict(
            page, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        printed = json.loads(rest_json.json_bytes(page))
        assert printed == expected
        for product, field_names in zip(printed["products"], _declared(page), strict=True):
            assert list(product) == field_names  # stock 0 is printed in its place, not last


def _declared(page: pb.ListProductsResponse) -> list[list[str]]:
    return [
        [f.name for f in pb.Product.DESCRIPTOR.fields if f.message_type is None or p.HasField(f.name)]
        for p in page.products
    ]


def test_an_empty_page_prints_every_field() -> None:
    assert (
        rest_json.json_bytes(pb.ListProductsResponse())
        == b'{"products":[],"next_cursor":"","has_more":false}'
    )


def test_timestamps_print_as_timestamp_to_json_string() -> None:
    rng = random.Random(11)
    for _ in range(5_000):
        stamp = timestamp_pb2.Timestamp(
            seconds=rng.randint(-62135596800, 253402300799),
            nanos=rng.choice(
                [
                    0,
                    rng.randint(1, 999) * 1_000_000,
                    rng.randint(1, 999_999) * 1_000,
                    rng.randint(1, 999_999_999),
                ]
            ),
        )
        assert rest_json._timestamp(stamp) == stamp.ToJsonString()


def test_a_message_the_printer_cannot_compile_goes_through_json_format() -> None:
    report = pb.GetHealthResponse(
        status="ok", uptime_seconds=2, checks={"mysql": pb.HealthCheck(latency_ms=1.5)}
    )
    assert rest_json._printer(report.DESCRIPTOR) is None  # a map (of messages with a double)
    assert json.loads(rest_json.json_bytes(report)) == json_format.MessageToDict(
        report, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def test_the_http_body_carries_the_json() -> None:
    page = _page(random.Random(3))
    body = httpbody_pb2.HttpBody.FromString(rest_json.http_body(page))
    assert body.content_type == "application/json"
    assert body.data == rest_json.json_bytes(page)


def test_only_the_edges_header_asks_for_json() -> None:
    assert rest_json.wants_json_body([("x-request-id", "1"), (rest_json.REST_JSON_HEADER, "1")])
    assert not rest_json.wants_json_body([("x-request-id", "1")])
    assert not rest_json.wants_json_body(None)


def test_an_ascii_document_skips_the_escape_search_only_when_it_has_nothing_to_escape() -> None:
    """The regex is what tests/edge/test_rest_json_body.py holds to Envoy's printing."""
    for code in range(128):
        document = {"name": f"a{chr(code)}b", "n": 1}
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        assert rest_json._document_bytes(document) == (
            rest_json._ALSO_ESCAPED.sub(rest_json._u_escape, text).encode()
        ), repr(chr(code))
    assert rest_json._document_bytes({"name": "<>\x7f"}) == b'{"name":"\\u003c\\u003e\\u007f"}'
