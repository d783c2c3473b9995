"""The catalog's REST contract through Envoy against the real services."""

from __future__ import annotations

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as ipb_grpc


@pytest.fixture(scope="module")
def http(edge) -> httpx.Client:
    with edge.client() as client:
        yield client


@pytest.fixture(scope="module")
def products(edge) -> list[int]:
    """Three products written through the catalog's internal write RPC (not reachable via the edge)."""
    with grpc.insecure_channel(edge.plans["catalog"].address) as channel:
        writer = ipb_grpc.ProductWriteServiceStub(channel)
        writer.UpsertProducts(
            ipb.UpsertProductsRequest(
                products=[
                    ipb.ProductInput(
                        external_id=f"e2e-{n}",
                        name=f"Organic Alphonso Mango {n}kg",
                        description="sweet ripe mangoes from Ratnagiri",
                        category="Fruits",
                        price=f"{499 + n}.00",
                        stock=n,
                    )
                    for n in range(1, 4)
                ]
            ),
            timeout=10,
        )
    return []


def violations(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    return {v["field"]: v["description"] for d in body["details"] for v in d.get("field_violations", [])}


def test_get_product_renders_the_contract_shape(http, products) -> None:
    listing = http.get("/v1/products", params={"q": "alphonso", "sort": "price", "order": "asc"}).json()
    first = listing["products"][0]
    product = http.get(f"/v1/products/{first['id']}")
    assert product.status_code == 200
    assert product.headers["x-ratelimit-limit"] == "1000"  # checked in the floor's round trip
    body = product.json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "category",
        "price",
        "stock",
        "created_at",
        "updated_at",
    }
    assert isinstance(body["id"], str) and body["price"] == "500.00" and body["stock"] == 1
    assert body["created_at"].endswith("Z")


def test_unknown_product_is_404_and_bad_ids_are_400(http) -> None:
    missing = http.get("/v1/products/999999999")
    assert missing.status_code == 404 and missing.json()["code"] == 5
    for bad in ("abc", "0", "-5", "1.5", "99999999999999999999999"):
        response = http.get(f"/v1/products/{bad}")
        assert response.status_code == 400, bad
        assert "positive integer" in violations(response)["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "ten"}, "max_price"),
        ({"min_price": "9", "max_price": "1"}, "min_price"),
        ({"sort": "rating"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a b"}, "q"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_every_bad_listing_parameter_is_a_400_naming_the_field(http, params, field) -> None:
    response = http.get("/v1/products", params=params)
    assert response.status_code == 400
    assert field in violations(response)
    assert response.json()["message"]


def test_listing_pages_with_an_opaque_cursor_bound_to_its_query(http, products) -> None:
    first = http.get(
        "/v1/products", params={"q": "mango", "limit": "2", "sort": "price", "order": "asc"}
    ).json()
    assert first["has_more"] is True and len(first["products"]) == 2
    second = http.get(
        "/v1/products",
        params={"q": "mango", "limit": "2", "sort": "price", "order": "asc", "cursor": first["next_cursor"]},
    ).json()
    assert [p["price"] for p in first["products"] + second["products"]] == ["500.00", "501.00", "502.00"]
    assert second["has_more"] is False and second["next_cursor"] == ""
    foreign = http.get(
        "/v1/products", params={"q": "mango", "limit": "2", "sort": "name", "cursor": first["next_cursor"]}
    )
    assert foreign.status_code == 400 and "cursor" in violations(foreign)


def test_categories_and_rate_limit_headers(http, products) -> None:
    response = http.get("/v1/categories")
    assert response.status_code == 200
    assert {"name": "Fruits", "product_count": 3} in response.json()["categories"]
    assert response.headers["x-ratelimit-limit"] == "5"
    assert int(response.headers["x-ratelimit-remaining"]) <= 4
    assert "x-ratelimit-reset" in response.headers


def test_exceeding_the_limit_is_a_429_with_retry_after(http) -> None:
    statuses = [http.get("/v1/categories") for _ in range(7)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].headers["x-ratelimit-remaining"] == "0"
    assert limited[0].json()["code"] == 8


def test_health_reports_every_service_and_dependency(http) -> None:
    response = http.get("/health")
    body = response.json()
    assert body["status"] in ("ok", "degraded")  # the sandbox is not part of this stack
    assert response.status_code == 200
    for name in (
        "catalog.mysql",
        "redis",
        "auth_service",
        "webhook_service",
        "oauth_provider",
        "supplier_api",
    ):
        assert body["checks"][name]["state"] in ("ok", "degraded", "down")
    assert body["checks"]["catalog.mysql"]["state"] == "ok"
    assert body["checks"]["auth_service"]["state"] == "ok"
    assert http.get("/health/live").status_code == 200
    assert http.get("/health/ready").json() == {"status": "ready"}
