"""Standard Webhooks signatures: the spec's test vector, tolerance both ways, rotation, junk."""

from __future__ import annotations

import pytest

from webhook_service.signature import (
    InvalidSignature,
    MalformedHeaders,
    new_secret,
    parse_headers,
    secret_key,
    sign,
    verify,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = EXPECTED, timestamp: int = TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_spec_test_vector_signs_and_verifies() -> None:
    assert sign(secret_key(SECRET), MSG_ID, TIMESTAMP, BODY) == EXPECTED
    verify([secret_key(SECRET)], parse_headers(headers()), BODY, now=TIMESTAMP)


@pytest.mark.parametrize("offset", [-(5 * 60 + 1), 5 * 60 + 1])
def test_timestamps_beyond_five_minutes_either_way_are_rejected(offset: int) -> None:
    with pytest.raises(InvalidSignature, match="5 minutes"):
        verify([secret_key(SECRET)], parse_headers(headers()), BODY, now=TIMESTAMP - offset)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamps_at_the_edge_pass(offset: int) -> None:
    verify([secret_key(SECRET)], parse_headers(headers()), BODY, now=TIMESTAMP - offset)


def test_one_junk_and_one_valid_signature_passes() -> None:
    for junk in ("v1,!!!notbase64", "v1,", "nonsense", "v2,abc", "v1,AAAA"):
        verify([secret_key(SECRET)], parse_headers(headers(f"{junk} {EXPECTED}")), BODY, now=TIMESTAMP)


def test_a_reserialised_body_fails() -> None:
    with pytest.raises(InvalidSignature):
        verify([secret_key(SECRET)], parse_headers(headers()), b'{"test":2432232314}', now=TIMESTAMP)


def test_rotated_secrets_any_key_passes() -> None:
    verify([secret_key(new_secret()), secret_key(SECRET)], parse_headers(headers()), BODY, now=TIMESTAMP)


def test_non_utf8_body_is_just_a_mismatch() -> None:
    with pytest.raises(InvalidSignature):
        verify([secret_key(SECRET)], parse_headers(headers()), b"\xff\xfe", now=TIMESTAMP)


@pytest.mark.parametrize(
    "bad",
    [
        {"webhook-timestamp": str(TIMESTAMP), "webhook-signature": EXPECTED},
        {"webhook-id": MSG_ID, "webhook-timestamp": "yesterday", "webhook-signature": EXPECTED},
        {"webhook-id": MSG_ID, "webhook-timestamp": "-5", "webhook-signature": EXPECTED},
        {"webhook-id": "has space", "webhook-timestamp": str(TIMESTAMP), "webhook-signature": EXPECTED},
    ],
)
def test_malformed_headers_are_distinguished_from_bad_signatures(bad: dict[str, str]) -> None:
    with pytest.raises(MalformedHeaders):
        parse_headers(bad)


def test_secrets_must_be_base64() -> None:
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_***")
    assert len(secret_key(new_secret())) == 32
