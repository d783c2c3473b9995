"""The text every string field of a public request must be: no control characters, bounded length.

Checked for every field of every message, recursively (repeated strings and map keys included), so a
new field is covered without anyone remembering to. Services keep their own, tighter limits per field
(a query of at most 100 characters, a category of at most 64); this is the floor under all of them.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from farmlokal_common.errors import FieldViolation

__all__ = ["has_control_character", "text_violation"]

# Unicode category Cc except tab, line feed and carriage return (which free text may carry). NUL
# truncates strings in C libraries, the others corrupt logs and terminals; nobody types them.
_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ANY_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")  # for one-line values: names, categories
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def has_control_character(text: str, allow_line_breaks: bool = True) -> bool:
    """Holds a character of Unicode category Cc (tab, line feed and carriage return allowed by default)."""
    pattern = _CONTROL_CHARACTER if allow_line_breaks else _ANY_CONTROL_CHARACTER
    return pattern.search(text) is not None


def text_violation(message: Message, max_chars: int, prefix: str = "") -> FieldViolation | None:
    """The first string field (dotted path) that is too long or holds a control character, or None."""
    # ListFields returns only the fields that are set: a typical request sets few of them.
    for field, value in message.ListFields():
        if field.type == _STRING:
            for text in value if field.is_repeated else (value,):
                violation = _check(text, prefix + field.name, max_chars)
                if violation is not None:
                    return violation
        elif field.type == _MESSAGE:
            violation = _nested(field, value, max_chars, f"{prefix}{field.name}.")
            if violation is not None:
                return violation
    return None


def _nested(field: FieldDescriptor, value: Any, max_chars: int, prefix: str) -> FieldViolation | None:
    entry = field.message_type
    if entry.GetOptions().map_entry:
        key_is_text = entry.fields_by_name["key"].type == _STRING
        value_field = entry.fields_by_name["value"]
        for key, item in value.items():
            violation = _check(key, prefix + "key", max_chars) if key_is_text else None
            if violation is None and value_field.type == _STRING:
                violation = _check(item, prefix + "value", max_chars)
            elif violation is None and value_field.type == _MESSAGE:
                violation = text_violation(item, max_chars, prefix)
            if violation is not None:
                return violation
        return None
    for item in value if field.is_repeated else (value,):
        violation = text_violation(item, max_chars, prefix)
        if violation is not None:
            return violation
    return None


def _check(text: str, name: str, max_chars: int) -> FieldViolation | None:
    if len(text) > max_chars:
        return FieldViolation(name, f"{name} must be at most {max_chars} characters")
    if _CONTROL_CHARACTER.search(text):  # the pattern itself: this runs for every field of every call
        return FieldViolation(
            name,
            f"{name} must not contain control characters (tab, line feed and carriage return are allowed)",
        )
    return None
