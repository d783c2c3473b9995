"""Admin routes and token metadata through the real Envoy edge, with the sandbox as OAuth2 provider.

Envoy's jwt_authn checks signature (the sandbox's JWKS), issuer, audience and expiry on admin routes;
RBAC checks the route's scope. The sandbox signs with a key from a file, so tests can also forge
tokens with the right key and wrong claims.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from farmlokal.auth.v1 import auth_internal_pb2, auth_internal_pb2_grpc
from farmlokal.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from farmlokal.webhook.v1 import webhook_pb2, webhook_pb2_grpc

from tests.e2e.auth_sandbox import API_AUDIENCE, ISSUER, SERVICES_CLIENT

pytestmark = pytest.mark.e2e

SUPPLIER_STATUS = "/v1/supplier/status"
SUBSCRIPTIONS = "/v1/webhooks/subscriptions"


@pytest.fixture
def http(edge) -> httpx.Client:
    with edge.client() as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _forge(sandbox, key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> str:
    """An admin token signed with the sandbox's own key (or another), claims as given."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": API_AUDIENCE,
        "sub": "farmlokal-admin",
        "scope": "catalog:admin webhooks:admin",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    kid = jwt.get_unverified_header(sandbox.token())["kid"]
    return jwt.encode(claims, key or sandbox.private_key(), algorithm="RS256", headers={"kid": kid})


def _assert_status_json(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not [name for name in response.headers if name.startswith("grpc-")]
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(("method", "path"), [("GET", SUPPLIER_STATUS), ("GET", SUBSCRIPTIONS)])
def test_admin_route_without_a_token_is_401(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    body = _assert_status_json(response, 401, 16)
    assert "missing" in body["message"].lower()
    assert response.headers["www-authenticate"].startswith("Bearer ")  # RFC 6750 §3


def test_write_admin_route_without_a_token_is_401_before_reaching_the_service(http: httpx.Client) -> None:
    response = http.post("/v1/supplier/sync", json={})
    _assert_status_json(response, 401, 16)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda sandbox: "not-a-jwt", id="garbage"),
        pytest.param(lambda sandbox: _forge(sandbox, exp=int(time.time()) - 120), id="expired"),
        pytest.param(lambda sandbox: _forge(sandbox, iss="https://evil.example/"), id="other-issuer"),
        pytest.param(
            lambda sandbox: _forge(sandbox, aud="https://supplier.farmlokal.test"), id="other-audience"
        ),
        pytest.param(
            lambda sandbox: _forge(
                sandbox, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
            id="other-key",
        ),
        pytest.param(lambda sandbox: sandbox.token(SERVICES_CLIENT), id="service-token"),
    ],
)
def test_admin_route_with_a_bad_token_is_401(http: httpx.Client, sandbox, make_token) -> None:
    response = http.get(SUBSCRIPTIONS, headers=_bearer(make_token(sandbox)))
    _assert_status_json(response, 401, 16)


def test_valid_token_without_the_routes_scope_is_403(http: httpx.Client, sandbox) -> None:
    webhooks_only = sandbox.token(scope="webhooks:admin", audience=API_AUDIENCE)
    catalog_only = sandbox.token(scope="catalog:admin", audience=API_AUDIENCE)
    body = _assert_status_json(http.get(SUPPLIER_STATUS, headers=_bearer(webhooks_only)), 403, 7)
    assert body["message"] == "this route needs a token with the catalog:admin scope"
    _assert_status_json(http.post("/v1/supplier/sync", json={}, headers=_bearer(webhooks_only)), 403, 7)
    body = _assert_status_json(http.get(SUBSCRIPTIONS, headers=_bearer(catalog_only)), 403, 7)
    assert body["message"] == "this route needs a token with the webhooks:admin scope"
    _assert_status_json(http.get(f"{SUBSCRIPTIONS}/1", headers=_bearer(catalog_only)), 403, 7)


def test_scope_is_matched_as_a_whole_word(http: httpx.Client, sandbox) -> None:
    lookalike = _forge(sandbox, scope="webhooks:administrator catalog:admin-ish")
    _assert_status_json(http.get(SUBSCRIPTIONS, headers=_bearer(lookalike)), 403, 7)
    as_list = _forge(sandbox, scope=["catalog:admin", "webhooks:admin"])
    assert http.get(SUBSCRIPTIONS, headers=_bearer(as_list)).status_code == 200


def test_right_scope_reaches_the_service(http: httpx.Client, sandbox) -> None:
    token = sandbox.token(audience=API_AUDIENCE)
    listing = http.get(SUBSCRIPTIONS, headers=_bearer(token))
    assert listing.status_code == 200, listing.text
    assert "subscriptions" in listing.json()
    narrow = sandbox.token(scope="webhooks:admin")
    assert http.get(SUBSCRIPTIONS, headers=_bearer(narrow)).status_code == 200
    # The supplier routes reach the catalog service (whatever it answers, it is not the edge's 401/403).
    status = http.get(SUPPLIER_STATUS, headers=_bearer(sandbox.token(scope="catalog:admin")))
    assert status.status_code not in (401, 403), status.text


def test_public_routes_need_no_token_and_ignore_a_bad_one(http: httpx.Client) -> None:
    assert http.get("/v1/categories").status_code in (200, 429)
    assert http.get("/health/live", headers=_bearer("not-a-jwt")).status_code == 200


def _admin_stub(edge) -> tuple[grpc.Channel, webhook_pb2_grpc.WebhookAdminServiceStub]:
    channel = grpc.insecure_channel(edge.grpc_target)
    return channel, webhook_pb2_grpc.WebhookAdminServiceStub(channel)


def test_native_grpc_admin_calls_are_checked_too(edge, sandbox) -> None:
    channel, stub = _admin_stub(edge)
    request = webhook_pb2.ListSubscriptionsRequest()
    with channel:
        with pytest.raises(grpc.RpcError) as missing:
            stub.ListSubscriptions(request, timeout=5)
        with pytest.raises(grpc.RpcError) as forbidden:
            catalog_only = sandbox.token(scope="catalog:admin")
            stub.ListSubscriptions(request, metadata=[("authorization", f"Bearer {catalog_only}")], timeout=5)
        answer = stub.ListSubscriptions(
            request, metadata=[("authorization", f"Bearer {sandbox.token()}")], timeout=5
        )
        supplier = catalog_pb2_grpc.SupplierServiceStub(channel)
        with pytest.raises(grpc.RpcError) as supplier_missing:
            supplier.GetSupplierStatus(catalog_pb2.GetSupplierStatusRequest(), timeout=5)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert forbidden.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert forbidden.value.details() == "this route needs a token with the webhooks:admin scope"
    assert supplier_missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert isinstance(answer, webhook_pb2.ListSubscriptionsResponse)


def _access_log(edge, marker: str) -> list[dict[str, Any]]:
    """Envoy's access log lines (the headers as its filters left them) that mention marker.
    Envoy flushes its log every 10 s by default (--file-flush-interval-msec)."""
    deadline = time.monotonic() + 15
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not lines:
        time.sleep(0.1)
        text = edge.envoy.log_path.read_text(errors="replace")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{") and marker in line]
    return lines


def test_clients_cannot_choose_the_subject(http: httpx.Client, edge, sandbox) -> None:
    """x-auth-subject (the rate limiter's key on admin routes) comes only from a verified token."""
    marker = uuid.uuid4().hex
    spoofed = {"x-auth-subject": f"spoof-{marker}"}
    http.get("/v1/products", params={"q": f"public{marker}"}, headers=spoofed)
    token = _forge(sandbox, sub=f"admin-{marker}")
    assert http.get(SUBSCRIPTIONS, headers={**spoofed, **_bearer(token)}).status_code == 200
    public = _access_log(edge, f"public{marker}")
    admin = _access_log(edge, f"admin-{marker}")
    assert [line["subject"] for line in public] == [None]
    assert [(line["path"], line["subject"]) for line in admin] == [(SUBSCRIPTIONS, f"admin-{marker}")]
    assert f"spoof-{marker}" not in edge.envoy.log_path.read_text(errors="replace")


def test_token_info_through_the_edge_shows_metadata_never_the_token(http: httpx.Client, edge) -> None:
    response = http.get("/v1/auth/token-info")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token_type", "expires_at", "expires_in", "source", "fingerprint"}
    assert body["token_type"] == "Bearer"
    assert body["source"] in ("cache", "provider")
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", body["fingerprint"])
    assert 0 < body["expires_in"] <= 3600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["expires_at"])
    with grpc.insecure_channel(edge.plans["auth"].address) as channel:  # internal address, not the edge
        token = auth_internal_pb2_grpc.TokenBrokerServiceStub(channel).GetAccessToken(
            auth_internal_pb2.GetAccessTokenRequest(), timeout=10
        )
    assert body["fingerprint"] == "sha256:" + hashlib.sha256(token.access_token.encode()).hexdigest()[:12]
    assert token.access_token not in response.text
    assert token.access_token.split(".")[2] not in response.text
    again = http.get("/v1/auth/token-info").json()
    assert (again["source"], again["fingerprint"]) == ("cache", body["fingerprint"])
