"""The floor every public request's text must clear (farmlokal_common.request_text)."""

from __future__ import annotations

import pytest
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2 as wpb

from farmlokal_common.request_text import text_violation

LIMIT = 4096


@pytest.mark.parametrize("text", ["", "Mango", "tab\tnew\nline\r\n", "Früchte 🥭", "\u00a0nbsp", "a" * LIMIT])
def test_text_that_passes(text: str) -> None:
    assert text_violation(pb.ListProductsRequest(q=text), LIMIT) is None


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]
)
def test_every_control_character_but_tab_newline_return_is_refused(char: str) -> None:
    violation = text_violation(pb.ListProductsRequest(category=f"fru{char}its"), LIMIT)
    assert violation is not None and violation.field == "category"
    assert "control characters" in violation.description and "tab" in violation.description


def test_over_long_is_refused_saying_the_limit() -> None:
    violation = text_violation(pb.ListProductsRequest(cursor="a" * (LIMIT + 1)), LIMIT)
    assert violation is not None and violation.field == "cursor"
    assert violation.description == f"cursor must be at most {LIMIT} characters"


def test_repeated_strings_are_checked() -> None:
    request = wpb.CreateSubscriptionRequest(event_types=["product.updated", "product\x00.deleted"])
    violation = text_violation(request, LIMIT)
    assert violation is not None and violation.field == "event_types"


def test_nested_messages_are_checked_with_a_dotted_path() -> None:
    request = ipb.UpsertProductsRequest(
        products=[ipb.ProductInput(name="ok"), ipb.ProductInput(category="a\x07")]
    )
    violation = text_violation(request, LIMIT)
    assert violation is not None and violation.field == "products.category"


def test_map_keys_and_values_are_checked() -> None:
    bad_key = pb.GetHealthResponse(checks={"re\x00dis": pb.HealthCheck(state="ok")})
    bad_value = pb.GetHealthResponse(checks={"redis": pb.HealthCheck(detail="x" * (LIMIT + 1))})
    assert text_violation(bad_key, LIMIT).field == "checks.key"  # type: ignore[union-attr]
    assert text_violation(bad_value, LIMIT).field == "checks.detail"  # type: ignore[union-attr]


def test_bytes_fields_are_not_text() -> None:
    request = wpb.ReceiveWebhookRequest(source="supplier")
    request.body.data = b"\x00\x01" * 5000
    assert text_violation(request, LIMIT) is None
