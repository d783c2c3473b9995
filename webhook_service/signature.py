"""Standard Webhooks signatures (HMAC-SHA256 over id.timestamp.body), used inbound and outbound.

Written here rather than taken from the `standardwebhooks` package because that library raises
unhandled errors on a junk signature entry (which must simply not match) and on bodies that are
not UTF-8, and does not separate malformed headers (400) from bad signatures (401).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"
_ID = re.compile(r"^[\x21-\x7e]{1,255}$")


class MalformedHeaders(ValueError):
    """Missing or unparseable webhook-* headers: a 400."""


class InvalidSignature(ValueError):
    """No valid signature, or a timestamp outside the tolerance: a 401."""


@dataclass(frozen=True)
class SignedHeaders:
    message_id: str
    timestamp: int
    signatures: str


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret must be whsec_ followed by base64") from error
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def parse_headers(headers: dict[str, str]) -> SignedHeaders:
    message_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    missing = [
        name
        for name, value in (
            ("webhook-id", message_id),
            ("webhook-timestamp", raw_timestamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise MalformedHeaders(f"missing header(s): {', '.join(missing)}")
    if not _ID.match(message_id):
        raise MalformedHeaders("webhook-id must be 1-255 printable ASCII characters")
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise MalformedHeaders("webhook-timestamp must be unix seconds")
    return SignedHeaders(message_id, int(raw_timestamp), signatures)


def verify(keys: list[bytes], headers: SignedHeaders, body: bytes, now: float | None = None) -> None:
    """Passes when any v1 signature matches any key (rotation), within ±5 minutes of now."""
    now = time.time() if now is None else now
    if abs(now - headers.timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is more than 5 minutes from now")
    offered = []
    for entry in headers.signatures.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    for key in keys:
        expected = base64.b64decode(sign(key, headers.message_id, headers.timestamp, body)[3:])
        # Compare against every offered signature without stopping early on a match.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return
    raise InvalidSignature("no valid signature")
