"""Parses JSON that came from outside (webhook bodies, event payloads, provider answers) with a
nesting limit, so a hostile document is one clear error instead of a RecursionError or a 500.

`MAX_DEPTH` is 32 nested arrays or objects: every document the API defines nests 3 deep at most,
and 32 leaves room for payload extensions while bounding the work of anyone walking the result
recursively later. The parser's own recursion (a body of 100,000 `[`) is refused as the same error.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "JsonBodyError", "load_json", "load_json_object"]

MAX_DEPTH = 32


class JsonBodyError(ValueError):
    """Not JSON, nested too deep, or not the shape asked for; the message says which, never the data."""


def load_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed document, or JsonBodyError."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise JsonBodyError(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JsonBodyError("not valid JSON") from None
    if _deeper_than(document, max_depth):
        raise JsonBodyError(f"JSON nested deeper than {max_depth} levels")
    return document


def load_json_object(raw: bytes | str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The parsed document when it is a JSON object, else JsonBodyError."""
    document = load_json(raw, max_depth)
    if not isinstance(document, dict):
        raise JsonBodyError("not a JSON object")
    return document


def _deeper_than(document: Any, max_depth: int) -> bool:
    """Walks with an explicit stack: the check itself must not recurse."""
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
