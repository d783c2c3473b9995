"""Opaque, HMAC-signed page cursors bound to the query they were issued for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from catalog_service.listing.keyset import Keyset
from farmlokal_common.errors import FieldViolation, InvalidArgument

_VERSION = 1
_MAC_BYTES = 16
MAX_CURSOR_LENGTH = 2048
_INVALID = "cursor is not valid for this query; pass next_cursor from the previous page unchanged"


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """encode/decode a Keyset; the MAC covers the query binding, so a cursor only works for its query.

    The binding is the canonical filter/search/sort/order of the query (not the limit, which may
    change between pages). Any altered, foreign or malformed cursor is an InvalidArgument on "cursor".
    """

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the cursor secret must not be empty")
        self._secret = secret

    def _mac(self, binding: str, payload: bytes) -> bytes:
        message = binding.encode("utf-8") + b"\x00" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, binding: str, keyset: Keyset) -> str:
        payload = json.dumps(
            [_VERSION, keyset.value, keyset.id], separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(binding, payload))}"

    def decode(self, token: str, binding: str) -> Keyset:
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise _invalid()
        payload_part, mac_part = token.split(".")
        try:
            payload = _b64decode(payload_part)
            mac = _b64decode(mac_part)
        except (binascii.Error, ValueError):
            raise _invalid() from None
        if _b64encode(payload) != payload_part or _b64encode(mac) != mac_part:
            raise _invalid()  # base64 ignores some altered trailing bits: only the canonical form passes
        if not hmac.compare_digest(mac, self._mac(binding, payload)):
            raise _invalid()
        try:
            version, value, row_id = json.loads(payload)
        except (ValueError, TypeError):
            raise _invalid() from None
        if version != _VERSION or not isinstance(value, str) or type(row_id) is not int or row_id <= 0:
            raise _invalid()
        return Keyset(value, row_id)


def _invalid() -> InvalidArgument:
    return InvalidArgument(FieldViolation("cursor", _INVALID))
