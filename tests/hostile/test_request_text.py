"""Class: a string field of a public request holds text no service should see: bytes that are not
UTF-8, control characters, a value far beyond any field's size.

Every string field of every public route (read from the protos, so new routes and fields are covered
without an edit) gets each kind through the real edge, in the path, the query or the JSON body as the
route binds it. Expected: a 400 whose field violation names the field, counted by the rate limiter
like any request, and no traceback in the service's log (grpc used to answer invalid UTF-8 with
INTERNAL "Exception deserializing request!", a logged traceback, and no rate limiting).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor

from tests.e2e.auth_sandbox import SandboxProcess
from tests.e2e.conftest import Edge
from tests.hostile.public_routes import Route, public_routes, string_fields

OVER_LONG = "a" * 5000  # above the shared 4096-character floor (SERVICE max_text_field_chars)
# kind: (as it goes into a URL, already percent-encoded; as it goes into a JSON body)
BAD_TEXT: dict[str, tuple[str, str | bytes]] = {
    "invalid_utf8": ("%ff%fe", b"\xff\xfe"),
    "surrogate": ("%ed%a0%80abc", b"\xed\xa0\x80abc"),
    "control_character": ("ab%01c", "ab\x01c"),
    "over_long": (OVER_LONG, OVER_LONG),
}
CASES = [
    pytest.param(route, field, kind, id=f"{route.method.name}.{field.name}-{kind}")
    for route in public_routes()
    for field in string_fields(route)
    for kind in BAD_TEXT
]


def _headers(route: Route, sandbox: SandboxProcess) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if route.admin_scope:
        headers["authorization"] = f"Bearer {sandbox.token(scope=route.admin_scope)}"
    return headers


def _json_body(field: FieldDescriptor, value: str | bytes) -> bytes:
    if isinstance(value, bytes):  # not UTF-8: written into the JSON text as it is
        return (
            b'{"'
            + field.name.encode()
            + b'": '
            + (b'["%s"]' if field.is_repeated else b'"%s"') % value
            + b"}"
        )
    return json.dumps({field.name: [value] if field.is_repeated else value}).encode()


def send(
    client: httpx.Client, route: Route, field: FieldDescriptor, kind: str, headers: dict
) -> httpx.Response:
    in_url, in_json = BAD_TEXT[kind]
    content = b"{}" if route.verb != "get" else None
    if field.name in route.path_fields:
        url = route.path(**{field.name: in_url})
    elif route.body == "*":
        url, content = route.path(), _json_body(field, in_json)
    else:
        url = f"{route.path()}?{field.name}={in_url}"
    return client.request(route.verb.upper(), url, content=content, headers=headers)


@pytest.mark.parametrize(("route", "field", "kind"), CASES)
def test_bad_text_in_any_string_field_is_a_400_naming_it(
    client: httpx.Client, hostile_sandbox: SandboxProcess, route: Route, field: FieldDescriptor, kind: str
) -> None:
    response = send(client, route, field, kind, _headers(route, hostile_sandbox))
    assert response.status_code == 400, f"{route} {field.name}: {response.status_code} {response.text[:300]}"
    if route.body == "*" and field.name not in route.path_fields and kind in ("invalid_utf8", "surrogate"):
        return  # the edge's JSON parser refuses such a body itself, before any service
    body = response.json()
    violations = [v for d in body["details"] for v in d.get("field_violations", [])]
    assert violations and violations[0]["field"] == field.name, body
    assert "x-ratelimit-limit" in response.headers, "refused requests are counted by the rate limiter"


def test_routes_and_fields_are_found() -> None:
    names = {param.id for param in CASES}
    assert "ListProducts.category-invalid_utf8" in names
    assert "CreateSubscription.event_types-control_character" in names
    assert "ReceiveWebhook.source-over_long" in names


def test_invalid_utf8_logs_no_traceback_and_is_counted(hostile_edge: Edge, client: httpx.Client) -> None:
    log: Path = hostile_edge.processes["catalog"].log_path
    before = log.stat().st_size
    for _ in range(5):
        response = client.get("/v1/products?category=%ff%fe")
        assert response.status_code == 400
        assert response.json()["details"][0]["field_violations"][0]["field"] == "category"
        assert "x-ratelimit-remaining" in response.headers  # the limiter saw it: it counts
    with log.open("rb") as lines:
        lines.seek(before)
        written = lines.read().decode(errors="replace")
    assert "Traceback" not in written and "deserializ" not in written


@pytest.mark.parametrize("text", ["fresh%09mango", "fresh%0Amango", "fresh%0D%0Amango", "caf%C3%A9"])
def test_tab_newline_and_accents_are_text(client: httpx.Client, text: str) -> None:
    assert client.get(f"/v1/products?q={text}").status_code == 200


def test_nul_in_a_category_filter_is_refused(client: httpx.Client) -> None:
    response = client.get("/v1/products?category=fru%00its")
    assert response.status_code == 400
    assert "control characters" in response.json()["message"]
