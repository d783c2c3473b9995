"""The sandbox OAuth2 provider: client credentials per RFC 6749, JWTs that verify with its JWKS, controls.

Requests go through httpx's ASGI transport (Starlette 1.x deprecates its TestClient, and warnings
are errors in this suite).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from sandbox import oauth
from sandbox.app import create_app
from sandbox.oauth_grant import OAuthClient, TokenIssuer
from sandbox.oauth_keys import SigningKey
from sandbox.settings import SandboxSettings

SERVICES = ("farmlokal-services", "dev-services-secret")
ADMIN = ("farmlokal-admin", "dev-admin-secret")
ISSUER = "https://sandbox.farmlokal.test/"
FORM = {"grant_type": "client_credentials"}


class Sandbox:
    """One app (one key, one set of counters) and a way to call it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(call())

    def token(
        self, form: dict[str, str] | None = None, basic: tuple[str, str] | None = SERVICES, **kwargs: Any
    ) -> httpx.Response:
        auth = httpx.BasicAuth(*basic) if basic else None
        return self.request("POST", "/oauth/token", data=FORM if form is None else form, auth=auth, **kwargs)

    def jwks(self) -> dict[str, Any]:
        return self.request("GET", "/.well-known/jwks.json").json()

    def verify(self, access_token: str, audience: str) -> dict[str, Any]:
        keys = jwt.PyJWKSet.from_dict(self.jwks())
        kid = jwt.get_unverified_header(access_token)["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        return jwt.decode(access_token, key=key, algorithms=["RS256"], audience=audience, issuer=ISSUER)

    def control(self, name: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.request("POST", f"/_sandbox/oauth/{name}", json=body or {})

    def counters(self) -> dict[str, Any]:
        return self.request("GET", "/_sandbox/oauth/counters").json()["token_requests"]


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(create_app(SandboxSettings()))


def _assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert set(body) <= {"error", "error_description", "error_uri"}


def test_basic_auth_issues_a_jwt_that_verifies_with_the_jwks(sandbox: Sandbox) -> None:
    before = int(time.time())
    response = sandbox.token()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "supplier:read")
    claims = sandbox.verify(body["access_token"], "https://supplier.farmlokal.test")
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "farmlokal-services"
    assert claims["scope"] == "supplier:read"
    assert claims["exp"] - claims["iat"] == 3600
    assert before <= claims["iat"] <= time.time()
    assert len(claims["jti"]) == 32
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == sandbox.jwks()["keys"][0]["kid"]


def test_client_secret_post_issues_a_token(sandbox: Sandbox) -> None:
    form = {
        **FORM,
        "client_id": ADMIN[0],
        "client_secret": ADMIN[1],
        "audience": "https://api.farmlokal.test",
    }
    response = sandbox.token(form, basic=None)
    assert response.status_code == 200
    claims = sandbox.verify(response.json()["access_token"], "https://api.farmlokal.test")
    assert claims["sub"] == "farmlokal-admin"
    assert claims["scope"] == "catalog:admin webhooks:admin"


def test_every_token_has_its_own_jti(sandbox: Sandbox) -> None:
    tokens = [sandbox.token().json()["access_token"] for _ in range(3)]
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 3


def test_scope_must_be_a_subset_of_the_clients(sandbox: Sandbox) -> None:
    narrowed = sandbox.token({**FORM, "scope": "webhooks:admin"}, basic=ADMIN)
    assert narrowed.json()["scope"] == "webhooks:admin"
    assert sandbox.verify(narrowed.json()["access_token"], "https://api.farmlokal.test")["scope"] == (
        "webhooks:admin"
    )
    wider = sandbox.token({**FORM, "scope": "catalog:admin supplier:read"}, basic=ADMIN)
    _assert_oauth_error(wider, 400, "invalid_scope")
    assert "supplier:read" in wider.json()["error_description"]


@pytest.mark.parametrize("scope", ["supplier:read  supplier:read", 'bad"quote', "tab\tsep"])
def test_malformed_scope_is_invalid_scope(sandbox: Sandbox, scope: str) -> None:
    _assert_oauth_error(sandbox.token({**FORM, "scope": scope}), 400, "invalid_scope")


def test_audience_outside_the_clients_is_invalid_target(sandbox: Sandbox) -> None:
    response = sandbox.token({**FORM, "audience": "https://api.farmlokal.test"})
    _assert_oauth_error(response, 400, "invalid_target")


def test_wrong_secret_with_basic_is_401_with_www_authenticate(sandbox: Sandbox) -> None:
    response = sandbox.token(basic=("farmlokal-services", "guess"))
    _assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert "guess" not in response.text


def test_wrong_secret_in_the_form_is_invalid_client(sandbox: Sandbox) -> None:
    form = {**FORM, "client_id": SERVICES[0], "client_secret": "guess"}
    _assert_oauth_error(sandbox.token(form, basic=None), 401, "invalid_client")


def test_unknown_client_and_missing_credentials_are_invalid_client(sandbox: Sandbox) -> None:
    _assert_oauth_error(sandbox.token(basic=("nobody", "dev-services-secret")), 401, "invalid_client")
    _assert_oauth_error(sandbox.token(basic=None), 401, "invalid_client")


@pytest.mark.parametrize("header", ["Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode()])
def test_malformed_basic_credentials_are_invalid_client(sandbox: Sandbox, header: str) -> None:
    response = sandbox.token(basic=None, headers={"authorization": header})
    _assert_oauth_error(response, 401, "invalid_client")


def test_two_authentication_methods_are_invalid_request(sandbox: Sandbox) -> None:
    form = {**FORM, "client_id": SERVICES[0], "client_secret": SERVICES[1]}
    _assert_oauth_error(sandbox.token(form), 400, "invalid_request")


def test_missing_grant_type_is_invalid_request(sandbox: Sandbox) -> None:
    _assert_oauth_error(sandbox.token({"scope": "supplier:read"}), 400, "invalid_request")


def test_repeated_parameter_is_invalid_request(sandbox: Sandbox) -> None:
    response = sandbox.request(
        "POST",
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=supplier:read&scope=supplier:read",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=httpx.BasicAuth(*SERVICES),
    )
    _assert_oauth_error(response, 400, "invalid_request")


def test_json_body_is_invalid_request(sandbox: Sandbox) -> None:
    response = sandbox.request(
        "POST", "/oauth/token", json={"grant_type": "client_credentials"}, auth=httpx.BasicAuth(*SERVICES)
    )
    _assert_oauth_error(response, 400, "invalid_request")


def test_other_grant_type_is_unsupported_grant_type(sandbox: Sandbox) -> None:
    response = sandbox.token({"grant_type": "password", "username": "u", "password": "p"})
    _assert_oauth_error(response, 400, "unsupported_grant_type")


def test_client_without_the_grant_is_unauthorized_client() -> None:
    web = OAuthClient("web", "web-secret", frozenset({"a"}), ("aud",), frozenset({"authorization_code"}))
    issuer = TokenIssuer((web,), SigningKey.generate(), ISSUER)
    app = Starlette(routes=oauth.provider_routes(issuer, oauth.Controls(60)))
    response = Sandbox(app).token(basic=("web", "web-secret"))
    _assert_oauth_error(response, 400, "unauthorized_client")


def test_get_on_the_token_endpoint_is_405(sandbox: Sandbox) -> None:
    assert sandbox.request("GET", "/oauth/token").status_code == 405


def test_jwks_is_stable_within_a_process_and_fresh_per_process(sandbox: Sandbox) -> None:
    first, second = sandbox.jwks(), sandbox.jwks()
    assert first == second
    (key,) = first["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key  # the public half only
    other = Sandbox(create_app(SandboxSettings()))
    assert other.jwks()["keys"][0]["kid"] != key["kid"]
    with pytest.raises(jwt.InvalidSignatureError):
        # A token from one sandbox does not verify with another's key, even under the same kid.
        token = other.token().json()["access_token"]
        public = jwt.PyJWK.from_dict({**key, "kid": jwt.get_unverified_header(token)["kid"]})
        jwt.decode(token, key=public, algorithms=["RS256"], audience="https://supplier.farmlokal.test")


def test_key_from_a_pem_file_is_the_same_in_every_process(tmp_path: Path) -> None:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    settings = SandboxSettings(oauth_private_key_file=str(tmp_path / "key.pem"))
    one, two = Sandbox(create_app(settings)), Sandbox(create_app(settings))
    assert one.jwks() == two.jwks()
    assert two.verify(one.token().json()["access_token"], "https://supplier.farmlokal.test")


def test_expires_in_from_settings_and_from_the_control() -> None:
    sandbox = Sandbox(create_app(SandboxSettings(oauth_expires_in=120)))
    assert sandbox.token().json()["expires_in"] == 120
    assert sandbox.control("expires-in", {"seconds": 3}).status_code == 200
    body = sandbox.token().json()
    claims = sandbox.verify(body["access_token"], "https://supplier.farmlokal.test")
    assert body["expires_in"] == claims["exp"] - claims["iat"] == 3


def test_fail_next_n_then_recover_and_counters(sandbox: Sandbox) -> None:
    assert sandbox.control("fail-next", {"count": 2, "status": 503}).status_code == 200
    first, second, third = (sandbox.token() for _ in range(3))
    _assert_oauth_error(first, 503, "server_error")
    _assert_oauth_error(second, 503, "server_error")
    assert third.status_code == 200
    sandbox.token(basic=("farmlokal-services", "wrong"))
    assert sandbox.counters() == {
        "total": 4,
        "by_outcome": {"injected_failure": 2, "issued": 1, "invalid_client": 1},
    }


def test_fail_next_with_a_4xx_status_and_error(sandbox: Sandbox) -> None:
    sandbox.control("fail-next", {"count": 1, "status": 401})
    response = sandbox.token()
    _assert_oauth_error(response, 401, "invalid_client")
    assert "www-authenticate" in response.headers
    sandbox.control("fail-next", {"count": 1, "status": 400, "error": "invalid_scope"})
    _assert_oauth_error(sandbox.token(), 400, "invalid_scope")


def test_latency_delays_token_answers(sandbox: Sandbox) -> None:
    sandbox.control("latency", {"seconds": 0.3})
    started = time.monotonic()
    assert sandbox.token().status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_clears_controls_and_counters() -> None:
    sandbox = Sandbox(create_app(SandboxSettings(oauth_expires_in=90)))
    sandbox.token()
    sandbox.control("latency", {"seconds": 5})
    sandbox.control("expires-in", {"seconds": 2})
    sandbox.control("fail-next", {"count": 3, "status": 500})
    state = sandbox.control("reset").json()
    assert state == {"latency_seconds": 0.0, "expires_in": 90, "fail_next": {"count": 0, "status": 500}}
    assert sandbox.counters() == {"total": 0, "by_outcome": {}}
    assert sandbox.token().json()["expires_in"] == 90


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("latency", {"seconds": -1}),
        ("latency", {"seconds": "2"}),
        ("expires-in", {"seconds": 0}),
        ("fail-next", {"count": 1, "status": 200}),
        ("fail-next", {"count": 1}),
    ],
)
def test_nonsense_controls_are_400(sandbox: Sandbox, name: str, body: dict[str, Any]) -> None:
    response = sandbox.control(name, body)
    assert response.status_code == 400
    assert "must be" in response.json()["error"]


def test_logs_name_outcomes_but_never_secrets_or_tokens(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.error.oauth"):
        token = sandbox.token().json()["access_token"]
        sandbox.token({**FORM, "client_id": ADMIN[0], "client_secret": ADMIN[1]}, basic=None)
        sandbox.token(basic=("farmlokal-admin", "leaked-guess"))
    text = caplog.text
    assert "issued to farmlokal-services" in text
    assert "invalid_client" in text
    for secret in (SERVICES[1], ADMIN[1], "leaked-guess", token, token.split(".")[2]):
        assert secret not in text


def test_settings_read_oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_OAUTH_ADMIN_SECRET", "rotated")
    monkeypatch.setenv("SANDBOX_OAUTH_ISSUER", "https://issuer.test/")
    sandbox = Sandbox(create_app(SandboxSettings()))
    _assert_oauth_error(sandbox.token(basic=ADMIN), 401, "invalid_client")
    token = sandbox.token(basic=("farmlokal-admin", "rotated")).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "https://issuer.test/"
