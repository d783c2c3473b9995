"""Class: a REST query parameter names a field the route already binds in its path or body, and
Envoy's transcoder lets the parameter win (`GET /v1/products/1?id=2` answered product 2).

The transcoder decodes parameter names, so encoded spellings (`?%69d=2`) must be refused too. Expected:
a 400 saying the parameter is not allowed because the field is part of the path (or body).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.auth_sandbox import SandboxProcess
from tests.hostile.signed_webhooks import post_signed


def _violation(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    return response.json()["details"][0]["field_violations"][0]


@pytest.mark.parametrize("query", ["id=2", "%69d=2", "i%64=2", "%69%64=2"])
def test_query_parameter_cannot_override_the_product_id(client: httpx.Client, query: str) -> None:
    assert _violation(client.get(f"/v1/products/1?{query}")) == {
        "field": "id",
        "description": "query parameter id is not allowed: id is part of the path",
        "reason": "",
    }


def test_the_path_alone_still_works(client: httpx.Client) -> None:
    assert client.get("/v1/products/1").json()["id"] == "1"
    assert client.get("/v1/products?category=Fruits&limit=2").status_code == 200


def test_query_parameter_cannot_redirect_a_webhook_to_another_source(client: httpx.Client) -> None:
    event = {"type": "product.stock_changed", "data": {"external_id": "x", "stock": 1}}
    for query in ("?source=other", "?%73ource=other"):
        _, response = post_signed(client, event, query)
        assert _violation(response)["description"].endswith("source is part of the path")


def test_admin_routes_refuse_collisions_with_path_and_body(
    client: httpx.Client, hostile_sandbox: SandboxProcess
) -> None:
    auth = {"authorization": f"Bearer {hostile_sandbox.token(scope='webhooks:admin')}"}
    event = client.get("/v1/webhooks/events/supplier/evt_1?eventId=evt_2", headers=auth)
    assert (
        _violation(event)["description"]
        == "query parameter eventId is not allowed: eventId is part of the path"
    )
    created = client.post(
        "/v1/webhooks/subscriptions?url=http://127.0.0.1:1/",
        json={"url": "http://127.0.0.1:9/", "event_types": ["product.updated"]},
        headers=auth,
    )
    assert _violation(created)["description"] == "query parameter url is not allowed: url is part of the body"
