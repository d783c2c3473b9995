"""Edge rules that need a backend with known answers: statuses, headers, routing, body limit."""

from __future__ import annotations

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import (
    catalog_internal_pb2,
    catalog_internal_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
)

pytestmark = pytest.mark.e2e

ONE_MIB = 1024 * 1024


@pytest.fixture
def http(stub_edge) -> httpx.Client:
    with stub_edge.client() as client:
        yield client


def _grpc_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.startswith("grpc-") or name == "x-http-status"]


def test_success_has_no_grpc_headers_and_keeps_rate_limit_headers(http: httpx.Client) -> None:
    response = http.get("/v1/products/7")
    assert response.status_code == 200
    assert response.json()["price"] == "499.00"
    assert _grpc_headers(response) == []
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-ratelimit-remaining"] == "99"
    assert response.headers["x-ratelimit-reset"] == "1"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_x_http_status_sets_the_rest_status(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert _grpc_headers(response) == []


def test_error_keeps_retry_after_and_renders_google_rpc_status(http: httpx.Client) -> None:
    response = http.get("/v1/categories")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["code"] == 8
    assert response.json()["message"] == "slow down"
    assert _grpc_headers(response) == []


def test_service_not_found_maps_to_404(http: httpx.Client) -> None:
    response = http.get("/v1/products/404")
    assert response.status_code == 404
    assert response.json()["code"] == 5


def test_literal_subscriptions_path_wins_over_source_variable(http: httpx.Client, stub_edge, sandbox) -> None:
    admin = {"authorization": f"Bearer {sandbox.token()}"}  # an admin route (test_auth_edge.py)
    response = http.post(
        "/v1/webhooks/subscriptions", json={"url": "https://example.test/hook"}, headers=admin
    )
    assert response.status_code == 200
    assert stub_edge.backend.calls.seen("WebhookAdminService/CreateSubscription")
    assert not stub_edge.backend.calls.seen("WebhookService/ReceiveWebhook")


def test_raw_body_of_exactly_one_mib_passes(http: httpx.Client) -> None:
    response = http.post(
        "/v1/webhooks/acme", content=b"x" * ONE_MIB, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["event_id"] == str(ONE_MIB)


def test_raw_body_one_byte_over_is_413(http: httpx.Client, stub_edge) -> None:
    before = len(stub_edge.backend.calls.methods)
    response = http.post(
        "/v1/webhooks/acme", content=b"x" * (ONE_MIB + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"code": 8, "message": "Payload Too Large"}
    assert len(stub_edge.backend.calls.methods) == before


def test_internal_rpc_never_reaches_the_service(stub_edge) -> None:
    with grpc.insecure_channel(stub_edge.grpc_target) as channel:
        stub = catalog_internal_pb2_grpc.ProductWriteServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.UpsertProducts(catalog_internal_pb2.UpsertProductsRequest(), timeout=5)
    with httpx.Client(base_url=stub_edge.base_url, trust_env=False) as client:
        as_json = client.post("/farmlokal.catalog.v1.ProductWriteService/UpsertProducts", json={})
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert as_json.status_code == 404
    assert not stub_edge.backend.calls.seen("ProductWriteService")


def test_native_grpc_to_public_service_keeps_grpc_semantics(stub_edge) -> None:
    """The Lua clean-up must leave gRPC responses alone (grpc-status is the result)."""
    with grpc.insecure_channel(stub_edge.grpc_target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        found = stub.GetProduct(catalog_pb2.GetProductRequest(id="3"), timeout=5)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetProduct(catalog_pb2.GetProductRequest(id="404"), timeout=5)
    assert found.id == 3
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "product 404 does not exist"


def test_unreachable_backend_is_json_503(dead_edge) -> None:
    with dead_edge.client() as client:
        response = client.get("/v1/products/1")
    assert response.status_code == 503
    assert response.json()["code"] == 14
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _grpc_headers(response) == []
