"""str.isdigit() accepts "²", "٣" and other Unicode digits; int()/float() refuse some of them. Every
parser of digits from outside answers them as bad input, never with an exception (a 500 the OpenAPI
fuzzer found in GET /v1/webhooks/events?limit=²)."""

from __future__ import annotations

import base64

import pytest

from farmlokal_common.errors import InvalidArgument
from farmlokal_common.http_client import parse_retry_after
from webhook_service.signature import MalformedHeaders, parse_headers
from webhook_service.transport.paging import decode_cursor, encode_cursor, parse_limit

UNICODE_DIGITS = ["²", "12³", "\u0663", "\uff11\uff12", "\u07c1"]  # ², ³, Arabic-Indic 3, fullwidth 12, NKo 1


@pytest.mark.parametrize("raw", UNICODE_DIGITS)
def test_admin_listing_limit_and_cursor_refuse_unicode_digits(raw: str) -> None:
    with pytest.raises(InvalidArgument) as limit_error:
        parse_limit(raw)
    assert limit_error.value.violations[0].field == "limit"
    forged = base64.urlsafe_b64encode(f"id:{raw}".encode()).decode().rstrip("=")
    with pytest.raises(InvalidArgument) as cursor_error:
        decode_cursor(forged)
    assert cursor_error.value.violations[0].field == "cursor"
    assert parse_limit("7") == 7 and decode_cursor(encode_cursor(42)) == 42


@pytest.mark.parametrize("raw", UNICODE_DIGITS)
def test_webhook_timestamp_with_unicode_digits_is_malformed(raw: str) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": raw, "webhook-signature": "v1,abc"}
    with pytest.raises(MalformedHeaders):
        parse_headers(headers)


@pytest.mark.parametrize("raw", UNICODE_DIGITS)
def test_retry_after_with_unicode_digits_is_ignored(raw: str) -> None:
    assert parse_retry_after(raw) is None
    assert parse_retry_after("3") == 3.0
