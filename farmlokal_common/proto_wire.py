"""Finds the string field of a serialized protobuf message whose bytes are not valid UTF-8.

The protobuf runtime refuses such a message with a bare DecodeError that names nothing; this walk
of the wire format against the message's descriptor names the field, so the client gets a 400 that
says which of its values was bad. Only called for messages that already failed to parse.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["invalid_utf8_field"]

# The protobuf runtime refuses messages nested deeper than 100 levels itself; stopping there keeps
# a crafted, recursively nested input from costing more than the parse it failed.
_MAX_NESTING = 100
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class _Malformed(Exception):
    """The bytes are not a well-formed protobuf message."""


def invalid_utf8_field(data: bytes, descriptor: Descriptor) -> str | None:
    """The dotted path of the first string field holding invalid UTF-8 (e.g. "products.name"), or None
    when there is none or the bytes are not a well-formed message."""
    try:
        return _walk(memoryview(data), descriptor, "", 0)
    except _Malformed:
        return None


def _walk(data: memoryview, descriptor: Descriptor, prefix: str, depth: int) -> str | None:
    if depth > _MAX_NESTING:
        return None
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            _, position = _varint(data, position)
        elif wire_type == _FIXED64:
            position += 8
        elif wire_type == _FIXED32:
            position += 4
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            if position + length > end:
                raise _Malformed
            found = _check_field(data[position : position + length], descriptor, number, prefix, depth)
            if found is not None:
                return found
            position += length
        else:  # groups (proto2 only) and invalid wire types: not ours to explain
            raise _Malformed
    return None


def _check_field(
    value: memoryview, descriptor: Descriptor, number: int, prefix: str, depth: int
) -> str | None:
    field = descriptor.fields_by_number.get(number)
    if field is None:
        return None  # unknown fields are kept as bytes, never decoded as text
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            str(value, "utf-8")  # Python's codec refuses surrogates and overlongs, as protobuf does
        except UnicodeDecodeError:
            return f"{prefix}{field.name}"
        return None
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _walk(value, field.message_type, f"{prefix}{field.name}.", depth + 1)
    return None


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Malformed
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
