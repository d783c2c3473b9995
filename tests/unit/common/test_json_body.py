"""JSON from outside, parsed with a nesting limit (farmlokal_common.json_body)."""

from __future__ import annotations

import pytest

from farmlokal_common.json_body import MAX_DEPTH, JsonBodyError, load_json, load_json_object


def _arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_documents_within_the_limit_parse() -> None:
    assert load_json(_arrays(MAX_DEPTH)) == load_json(_arrays(MAX_DEPTH).encode())
    assert load_json_object(b'{"type": "x", "data": {"a": [1, {"b": null}]}}')["data"]["a"][1] == {"b": None}
    assert load_json("3") == 3


@pytest.mark.parametrize(
    "raw",
    [
        _arrays(MAX_DEPTH + 1),
        '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
        _arrays(100_000),  # the parser's own recursion limit
        "[" * 100_000,
        '{"a": [' + "{}," * 1000 + _arrays(MAX_DEPTH) + "]}",  # one deep branch among wide ones
    ],
    ids=["one too deep", "objects", "100,000 arrays", "100,000 unclosed", "deep branch"],
)
def test_too_deep_is_one_clear_error(raw: str) -> None:
    with pytest.raises(JsonBodyError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_json(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe{}", b"{'a': 1}", b"[1,]"])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(JsonBodyError, match="not valid JSON"):
        load_json(raw)


@pytest.mark.parametrize("raw", ["[]", '"x"', "1", "null"])
def test_object_required(raw: str) -> None:
    with pytest.raises(JsonBodyError, match="not a JSON object"):
        load_json_object(raw)


def test_a_json_body_error_is_a_value_error() -> None:
    assert issubclass(JsonBodyError, ValueError)  # callers catching ValueError keep working
