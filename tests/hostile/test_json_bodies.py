"""Class: a JSON body nested absurdly deep, or holding the wrong types, reaches a parser.

A signed webhook of 100,000 nested `[` used to be a 500 (RecursionError in json.loads). Every JSON
body the edge accepts (the raw webhook body, parsed by the service; the transcoded bodies, parsed by
Envoy) must be a 400 when it nests deeper than the limit (farmlokal_common.json_body.MAX_DEPTH) or
holds a value of the wrong type, and the service keeps answering.
"""

from __future__ import annotations

import json

import httpx
import pytest

from farmlokal_common.json_body import MAX_DEPTH
from tests.e2e.auth_sandbox import SandboxProcess
from tests.hostile.public_routes import Route, public_routes
from tests.hostile.signed_webhooks import post_signed


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP_WEBHOOKS = {
    "100,000 arrays": b"[" * 100_000,
    "100,000 arrays closed": _nested(100_000).encode(),
    "data 34 levels": ('{"type": "product.upserted", "data": {"x": ' + _nested(MAX_DEPTH) + "}}").encode(),
    "objects 5,000 deep": ('{"a":' * 5_000 + "1" + "}" * 5_000).encode(),
}
WRONG_WEBHOOK_TYPES = {
    "type a number": ({"type": 5, "data": {}}, "type"),
    "type empty": ({"type": " ", "data": {}}, "type"),
    "type with a control character": ({"type": "product.\u0000upserted", "data": {}}, "type"),
    "type an object": ({"type": {"x": 1}}, "type"),
    "data a list": ({"type": "product.upserted", "data": [1, 2]}, "data"),
    "data a string": ({"type": "product.upserted", "data": "x"}, "data"),
    "body a list": ([{"type": "product.upserted"}], "body"),
    "body a string": ("product.upserted", "body"),
}


def _field_violation(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text[:300]
    return response.json()["details"][0]["field_violations"][0]


@pytest.mark.parametrize("body", DEEP_WEBHOOKS.values(), ids=DEEP_WEBHOOKS.keys())
def test_deeply_nested_webhook_is_a_400(client: httpx.Client, body: bytes) -> None:
    _, response = post_signed(client, body)
    violation = _field_violation(response)
    assert violation["field"] == "body"
    assert (
        f"nested deeper than {MAX_DEPTH} levels" in violation["description"]
        or "not valid JSON" in (violation["description"])
    )
    assert client.get("/v1/products/1").status_code == 200


def test_webhook_nested_within_the_limit_is_accepted(client: httpx.Client) -> None:
    body = '{"type": "supplier.note", "data": {"x": ' + _nested(MAX_DEPTH - 2) + "}}"
    _, response = post_signed(client, body.encode())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("body", "field"), WRONG_WEBHOOK_TYPES.values(), ids=WRONG_WEBHOOK_TYPES.keys())
def test_webhook_envelope_of_the_wrong_type_is_a_400(client: httpx.Client, body: object, field: str) -> None:
    _, response = post_signed(client, json.dumps(body).encode())
    assert _field_violation(response)["field"] == field


JSON_ROUTES = [pytest.param(route, id=str(route)) for route in public_routes() if route.body == "*"]


def _admin(route: Route, sandbox: SandboxProcess) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if route.admin_scope:
        headers["authorization"] = f"Bearer {sandbox.token(scope=route.admin_scope)}"
    return headers


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_transcoded_bodies_deep_or_of_the_wrong_type_are_400s(
    client: httpx.Client, hostile_sandbox: SandboxProcess, route: Route
) -> None:
    headers = _admin(route, hostile_sandbox)
    # A field the body binds, or (a route whose fields are all in its path) one the request lacks.
    field = next((f.name for f in route.method.input_type.fields if f.name not in route.path_fields), "x")
    bodies = {
        "deep": f'{{"{field}": {_nested(100_000)}}}',
        "root a list": "[1]",
        "root a string": '"x"',
    }
    if field != "x":
        bodies["object for a scalar"] = json.dumps({field: {"a": 1}})
    for name, body in bodies.items():
        response = client.request(route.verb.upper(), route.path(), content=body.encode(), headers=headers)
        assert response.status_code == 400, f"{route} {name}: {response.status_code} {response.text[:200]}"
