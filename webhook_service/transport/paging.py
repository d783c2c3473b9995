"""Page size and opaque keyset tokens for the admin listings."""

from __future__ import annotations

import base64
import binascii

from farmlokal_common.errors import FieldViolation, InvalidArgument

_PREFIX = "id:"


def parse_limit(raw: str, default: int = 20, maximum: int = 100) -> int:
    if not raw:
        return default
    # isdigit() alone accepts "²" and other Unicode digits that int() refuses (a 500 found by fuzzing).
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise InvalidArgument(FieldViolation("limit", f"limit must be an integer between 1 and {maximum}"))
    return int(raw)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    if not raw:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    value = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not (value.isascii() and value.isdigit()):
        raise InvalidArgument(
            FieldViolation("cursor", "cursor must be a next_cursor returned by this listing")
        )
    return int(value)
