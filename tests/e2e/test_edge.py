"""The Envoy edge in front of the real services: what Envoy itself guarantees on every response."""

from __future__ import annotations

import grpc
import httpx
import pytest

pytestmark = pytest.mark.e2e

ALLOWED_ORIGIN = "http://localhost:3000"
INTERNAL_GRPC_METHODS = (
    "/farmlokal.catalog.v1.ProductWriteService/UpsertProducts",
    "/farmlokal.auth.v1.TokenBrokerService/GetAccessToken",
    "/farmlokal.webhook.v1.EventPublishService/PublishCatalogEvents",
    "/grpc.health.v1.Health/Check",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)
ENVOY_UNKNOWN_METHOD = "unknown or internal gRPC method"
ONE_MIB = 1024 * 1024


@pytest.fixture
def http(edge) -> httpx.Client:
    with edge.client() as client:
        yield client


def _is_status_json(response: httpx.Response) -> bool:
    body = response.json()
    return isinstance(body.get("code"), int) and isinstance(body.get("message"), str)


def test_every_backend_is_healthy_for_envoy(edge) -> None:
    """Envoy's gRPC health checks (per service name) pass against the real services."""
    clusters = httpx.get(f"{edge.admin_url}/clusters", trust_env=False).text
    for cluster in ("catalog", "webhook", "auth"):
        flags = [
            line
            for line in clusters.splitlines()
            if line.startswith(f"{cluster}::") and "health_flags" in line
        ]
        assert flags, f"no host listed for cluster {cluster}"
        assert all(line.endswith("::healthy") for line in flags), flags


def test_success_response_is_clean_rest(http: httpx.Client) -> None:
    response = http.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    assert not [name for name in response.headers if name.startswith("grpc-") or name == "x-http-status"]


@pytest.mark.parametrize("path", ["/v1/products/1", "/v1/categories", "/health", "/v1/auth/token-info"])
def test_no_grpc_headers_whatever_the_service_answers(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    assert not [name for name in response.headers if name.startswith("grpc-") or name == "x-http-status"]


def test_unknown_path_is_json_404(http: httpx.Client) -> None:
    response = http.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    assert _is_status_json(response)
    assert response.json()["code"] == 5


def test_unknown_method_on_known_path_is_json_404(http: httpx.Client) -> None:
    response = http.delete("/v1/products")
    assert response.status_code == 404
    assert _is_status_json(response)


def test_unknown_query_parameter_is_json_400(http: httpx.Client) -> None:
    response = http.get("/v1/products", params={"colour": "red"})
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert "colour" in response.json()["message"]


def test_body_over_one_mib_is_413(http: httpx.Client) -> None:
    response = http.post(
        "/v1/webhooks/acme", content=b"x" * (ONE_MIB + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["code"] == 8


def test_chunked_json_over_one_mib_is_413(http: httpx.Client) -> None:
    """No content-length: the limit counts bytes as they arrive."""

    def chunks():
        yield b'{"full": true, "padding": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = http.post("/v1/supplier/sync", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("method", INTERNAL_GRPC_METHODS)
def test_internal_rpc_unreachable_for_raw_grpc_over_http(http: httpx.Client, method: str) -> None:
    response = http.post(
        method, content=b"\x00\x00\x00\x00\x00", headers={"content-type": "application/grpc"}
    )
    # A gRPC caller gets Envoy's UNIMPLEMENTED (HTTP 200 + grpc-status 12), never the service.
    assert response.headers.get("grpc-status") == "12"
    assert response.headers.get("grpc-message") == ENVOY_UNKNOWN_METHOD


@pytest.mark.parametrize("method", INTERNAL_GRPC_METHODS)
def test_internal_rpc_unreachable_for_grpc_client(edge, method: str) -> None:
    with grpc.insecure_channel(edge.grpc_target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            call(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The services answer UNIMPLEMENTED as "Method not found!"; this text is Envoy's.
    assert caught.value.details() == ENVOY_UNKNOWN_METHOD


def test_internal_rpc_unreachable_as_json_post(http: httpx.Client) -> None:
    response = http.post("/farmlokal.catalog.v1.ProductWriteService/UpsertProducts", json={"products": []})
    assert response.status_code == 404
    assert _is_status_json(response)


def test_cors_preflight_from_allowed_origin(http: httpx.Client) -> None:
    response = http.options(
        "/v1/products",
        headers={"origin": ALLOWED_ORIGIN, "access-control-request-method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


def test_cors_preflight_from_foreign_origin_is_not_allowed(http: httpx.Client) -> None:
    response = http.options(
        "/v1/products",
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_actual_request_exposes_headers(http: httpx.Client) -> None:
    response = http.get("/health/live", headers={"origin": ALLOWED_ORIGIN})
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"]
    foreign = http.get("/health/live", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


def test_client_request_id_is_replaced_at_the_edge(http: httpx.Client) -> None:
    """use_remote_address: an external caller cannot choose the id the services log."""
    response = http.get("/health/live", headers={"x-request-id": "chosen-by-client"})
    assert response.headers["x-request-id"] not in ("", "chosen-by-client")
