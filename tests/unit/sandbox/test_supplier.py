"""The sandbox supplier API: bearer protection, a stable deterministic data set, changes, faults, counters.

Requests go through httpx's ASGI transport; tokens are minted here with a key whose public half the
sandbox is configured with (the JWKS path, and the faults that need a socket, are in
tests/integration/supplier against a real server).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.app import create_app
from sandbox.settings import SandboxSettings

ISSUER = "https://sandbox.farmlokal.test/"
AUDIENCE = "https://supplier.farmlokal.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def token(key=KEY, expires_in: float = 300, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + expires_in, "iat": now, "scope": "supplier:read"}
    return jwt.encode({**body, **claims}, key, algorithm="RS256")


class Sandbox:
    def __init__(self, **settings) -> None:
        self.app = create_app(
            SandboxSettings(supplier_jwt_public_key=PUBLIC_PEM, supplier_product_count=300, **settings)
        )

    def call(self, method: str, path: str, bearer: str | None = "valid", **options) -> httpx.Response:
        headers = dict(options.pop("headers", {}))
        if bearer is not None:
            headers["authorization"] = f"Bearer {token() if bearer == 'valid' else bearer}"

        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                return await client.request(method, path, headers=headers, **options)

        return asyncio.run(run())

    def products(self, bearer: str | None = "valid", headers: dict | None = None, **params) -> httpx.Response:
        return self.call("GET", "/supplier/v1/products", bearer, params=params, headers=headers or {})

    def stats(self) -> dict:
        return self.call("GET", "/_sandbox/supplier/stats", None).json()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.mark.parametrize(
    "bearer",
    [
        None,
        "not-a-jwt",
        token(expires_in=-5),
        token(key=OTHER_KEY),
        token(aud="https://api.farmlokal.test"),
        token(iss="https://elsewhere.test/"),
    ],
    ids=["missing", "garbage", "expired", "foreign-key", "other-audience", "other-issuer"],
)
def test_bad_tokens_get_401_with_a_bearer_challenge(sandbox, bearer) -> None:
    response = sandbox.products(bearer)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert sandbox.stats()["by_outcome"] == {"unauthorized": 1}


def test_a_token_without_the_scope_gets_403(sandbox) -> None:
    response = sandbox.products(token(scope="catalog:admin"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_pages_walk_every_product_once_in_a_stable_order(sandbox) -> None:
    seen = []
    for page in range(1, 5):
        body = sandbox.products(page=page, page_size=100).json()
        assert body["total"] == 300 and body["has_more"] == (page < 3)
        seen.extend(body["products"])
    assert len(seen) == 300 and len({p["external_id"] for p in seen}) == 300
    keys = [(p["updated_at"], p["external_id"]) for p in seen]
    assert keys == sorted(keys)
    first = seen[0]
    assert set(first) == {"external_id", "name", "description", "category", "price", "stock", "updated_at"}
    assert Decimal(first["price"]).as_tuple().exponent == -2 and isinstance(first["stock"], int)
    assert dt.datetime.fromisoformat(first["updated_at"].replace("Z", "+00:00")).tzinfo is not None


def test_the_data_set_is_deterministic() -> None:
    one, two = Sandbox(), Sandbox()
    assert one.products(page_size=300).json() == two.products(page_size=300).json()


def test_updated_since_is_inclusive_and_changes_move_to_the_end(sandbox) -> None:
    products = sandbox.products(page_size=300).json()["products"]
    since = products[-1]["updated_at"]
    assert [p["external_id"] for p in sandbox.products(updated_since=since).json()["products"]] == [
        products[-1]["external_id"]
    ]
    changed = sandbox.call("POST", "/_sandbox/supplier/mutate", None, params={"count": 5}).json()["changed"]
    assert changed == [p["external_id"] for p in products[:5]]
    after = sandbox.products(updated_since=since).json()["products"]
    assert [p["external_id"] for p in after] == [products[-1]["external_id"], *changed]
    old = {p["external_id"]: p for p in products}
    assert all(Decimal(p["price"]) == Decimal(old[p["external_id"]]["price"]) + 1 for p in after[1:])
    assert sandbox.products(page_size=300).json()["total"] == 300


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "x"},
        {"page_size": "1001"},
        {"updated_since": "yesterday"},
        {"updated_since": "2026-01-01T00:00:00"},
    ],
)
def test_bad_parameters_are_400(sandbox, params) -> None:
    assert sandbox.products(**params).status_code == 400


def test_queued_faults_serve_the_next_requests_in_order_and_are_counted(sandbox) -> None:
    for fault in (
        {"kind": "error", "status": 503, "count": 2},
        {"kind": "rate_limit", "retry_after": 2},
        {"kind": "unauthorized"},
        {"kind": "error", "status": 500},
        {"kind": "latency", "latency_ms": 50},
    ):
        assert sandbox.call("POST", "/_sandbox/supplier/faults", None, json=fault).status_code == 201
    answers = [sandbox.products() for _ in range(7)]
    assert [r.status_code for r in answers] == [503, 503, 429, 401, 500, 200, 200]
    assert answers[2].headers["retry-after"] == "2"
    assert answers[3].headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    stats = sandbox.stats()
    assert stats["total"] == 7
    assert stats["by_outcome"] == {
        "error_503": 2,
        "rate_limit": 1,
        "unauthorized": 1,
        "error_500": 1,
        "latency": 1,
        "ok": 1,
    }
    assert len(stats["hits"]) == 7


def test_a_fault_for_one_request_rides_in_a_header(sandbox) -> None:
    response = sandbox.products(headers={"x-sandbox-fault": "kind=rate_limit;retry_after=3"})
    assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert sandbox.products().status_code == 200


def test_bad_faults_are_refused_and_reset_restores_everything(sandbox) -> None:
    assert sandbox.call("POST", "/_sandbox/supplier/faults", None, json={"kind": "meteor"}).status_code == 400
    assert (
        sandbox.call(
            "POST", "/_sandbox/supplier/faults", None, json={"kind": "error", "status": 404}
        ).status_code
        == 400
    )
    sandbox.call("POST", "/_sandbox/supplier/faults", None, json={"kind": "error", "count": 3})
    assert sandbox.call("GET", "/_sandbox/supplier/faults", None).json()["queued"][0]["remaining"] == 3
    before = sandbox.products(page_size=300, headers={"x-sandbox-fault": "kind=latency;latency_ms=1"}).json()
    sandbox.call("POST", "/_sandbox/supplier/mutate", None, params={"count": 10})
    assert sandbox.call("POST", "/_sandbox/supplier/reset", None).status_code == 204
    assert sandbox.call("GET", "/_sandbox/supplier/faults", None).json() == {"queued": []}
    assert sandbox.stats()["total"] == 0
    assert sandbox.products(page_size=300).json() == before
