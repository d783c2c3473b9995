"""REST answers a service renders itself: the JSON the edge's transcoder would print, as a google.api.HttpBody.

A method marked `(farmlokal.api.v1.rest_json_body)` gets its REST calls with the REST_JSON_HEADER
request header (the edge sets it on the method's REST route and strips it from every client
request). Its servicer answers those with `http_body(message)`, which the transcoder passes through
as it is, since the descriptor the edge gives it declares the method's answer a google.api.HttpBody
(farmlokal_edge/descriptor.py). Printing a 20-product page was about half the edge's CPU per
cached request; a service that caches what goes out renders it once per cache entry instead.

The bytes are the transcoder's own printing of the message with PRINT_OPTIONS (the edge's setting
is this constant): proto field names, fields at their default value printed, fields in declaration
order, compact, non-ASCII characters as UTF-8. tests/edge/test_rest_json_body.py compares them with
Envoy's byte for byte. gRPC callers of the same method keep the typed message.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from google.api import httpbody_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = [
    "PRINT_OPTIONS",
    "REST_JSON_HEADER",
    "datetime_text",
    "document_http_body",
    "http_body",
    "json_bytes",
    "wants_json_body",
]

# The transcoder's print_options (envoy/farmlokal_edge/listener.py uses this).
PRINT_OPTIONS = {"preserve_proto_field_names": True, "always_print_primitive_fields": True}
REST_JSON_HEADER = "x-rest-json-body"
CONTENT_TYPE = "application/json"


def wants_json_body(metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
    """The call came through the method's REST route (the edge's header is there)."""
    return any(key == REST_JSON_HEADER for key, _ in metadata or ())


def json_bytes(message: Message) -> bytes:
    """The message's JSON mapping exactly as the transcoder prints it."""
    printer = _printer(message.DESCRIPTOR)
    return _document_bytes(printer(message) if printer is not None else _generic(message))


def _document_bytes(document: dict[str, Any]) -> bytes:
    """A message's JSON mapping (its fields in declaration order) as the transcoder prints it."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if text.isascii() and "<" not in text and ">" not in text and "\x7f" not in text:
        return text.encode()  # nothing to escape: the search costs more than these three scans
    return _ALSO_ESCAPED.sub(_u_escape, text).encode()


# What protobuf's JSON writer escapes beyond what json.dumps does (json/internal/writer.cc,
# MustEscape): HTML's angle brackets, C1 controls and DEL, and invisible or formatting characters.
# Outside strings JSON has none of them, so the whole document is searched.
_ALSO_ESCAPED = re.compile(
    "[<>\x7f-\x9f\xad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


def _u_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as the writer does
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def http_body(message: Message) -> bytes:
    """The serialized google.api.HttpBody carrying json_bytes(message)."""
    return _http_body(json_bytes(message))


def document_http_body(document: dict[str, Any]) -> bytes:
    """http_body(message) for a message's JSON mapping written directly (fields in declaration order,
    each as the proto3 mapping has it: 64-bit integers as strings, timestamps as datetime_text),
    for an answer whose message would be built only to be printed."""
    return _http_body(_document_bytes(document))


def _http_body(data: bytes) -> bytes:
    return bytes(httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data).SerializeToString())


def _generic(message: Message) -> dict[str, Any]:
    """json_format's mapping, its fields in declaration order (it appends those left at their default
    after the set ones): about 0.35 ms for a 20-product page, 10x the compiled printer's."""
    document = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _in_declaration_order(document, message.DESCRIPTOR)


def _in_declaration_order(document: dict[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    ordered = {}
    for field in descriptor.fields:
        if field.name not in document:
            continue
        value = document[field.name]
        if _is_plain_message(field):
            if field.is_repeated:
                value = [_in_declaration_order(item, field.message_type) for item in value]
            else:
                value = _in_declaration_order(value, field.message_type)
        ordered[field.name] = value
    return ordered


def _is_plain_message(field: FieldDescriptor) -> bool:
    """A message printed as a JSON object of its fields (not a map, not a well-known type such as a
    Timestamp, which prints as a string)."""
    message_type = field.message_type
    if message_type is None or message_type.GetOptions().map_entry:
        return False
    return not message_type.full_name.startswith("google.protobuf.")


# The compiled printer: per message type, one converter per field, for the shapes our answers use.
# A type with anything else (floats, bytes, enums, maps, oneofs, optional scalars, other well-known
# types) has none and goes through json_format.
_Printer = Callable[[Message], dict[str, Any]]
_Convert = Callable[[Any], Any]
_AS_IS = {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BOOL} | {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_AS_STRING = {  # 64-bit integers are JSON strings in the proto3 mapping
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_TIMESTAMP = "google.protobuf.Timestamp"
_printers: dict[str, _Printer | None] = {}


def _printer(descriptor: Descriptor) -> _Printer | None:
    if descriptor.full_name not in _printers:
        _printers[descriptor.full_name] = _compile(descriptor)
    return _printers[descriptor.full_name]


def _compile(descriptor: Descriptor) -> _Printer | None:
    fields: list[tuple[str, bool, _Convert]] = []  # (name, printed only when set, converter)
    for field in descriptor.fields:
        convert = _converter(field)
        if convert is None or field.containing_oneof is not None:
            return None
        fields.append((field.name, field.has_presence, convert))

    def print_message(message: Message) -> dict[str, Any]:
        return {
            name: convert(getattr(message, name))
            for name, when_set, convert in fields
            if not when_set or message.HasField(name)
        }

    return print_message


def _converter(field: FieldDescriptor) -> _Convert | None:
    one: _Convert | None
    if field.type in _AS_IS and not (field.has_presence and not field.is_repeated):
        one = _same
    elif field.type in _AS_STRING and not (field.has_presence and not field.is_repeated):
        one = str
    elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name == _TIMESTAMP:
        one = _timestamp
    elif field.type == FieldDescriptor.TYPE_MESSAGE and _is_plain_message(field):
        one = _printer(field.message_type)
    else:
        one = None
    if one is None or not field.is_repeated:
        return one
    each = one
    return lambda values: [each(value) for value in values]


def _same(value: Any) -> Any:
    return value


_EPOCH = datetime.datetime(1970, 1, 1)


def _timestamp(value: Any) -> str:
    """Timestamp.ToJsonString's RFC 3339 (0, 3, 6 or 9 fractional digits), at half its cost."""
    return _rfc3339((_EPOCH + datetime.timedelta(seconds=value.seconds)).isoformat(), value.nanos)


def datetime_text(value: datetime.datetime) -> str:
    """How the transcoder prints the Timestamp of this instant (a naive value is taken as UTC)."""
    if value.tzinfo is not None and value.tzinfo is not datetime.UTC:
        value = value.astimezone(datetime.UTC)
    # Whole seconds: the first 19 characters, whatever the zone suffix (years are 4 digits).
    return _rfc3339(value.isoformat(timespec="seconds")[:19], value.microsecond * 1000)


def _rfc3339(text: str, nanos: int) -> str:
    """Whole seconds in ISO 8601 (no zone) and the fraction as the proto3 JSON mapping prints it."""
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1_000 == 0:
            text += f".{nanos // 1_000:06d}"
        else:
            text += f".{nanos:09d}"
    return text + "Z"
