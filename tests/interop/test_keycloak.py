"""The services and the edge against a real Keycloak, configured by settings alone (issue 16's checks).

Token requests are counted by Keycloak's own login events, never by our logs.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
from farmlokal.auth.v1 import auth_internal_pb2, auth_internal_pb2_grpc, auth_pb2, auth_pb2_grpc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auth_service.tokens import fingerprint
from devstack import processes, services, stack
from farmlokal_edge.settings import EdgeSettings
from tests.e2e.conftest import start_edge
from tests.interop.conftest import CLOCK_SKEW_SECONDS, JWKS_CACHE_SECONDS, Stack
from tests.interop.realm import ADMIN, READER, SERVICES, SHORT_LIVED_ADMIN, RealmAdmin

pytestmark = pytest.mark.timeout(600)  # the first test also starts Keycloak and the stack

STATUS = "/v1/supplier/status"
REJECTION_MEMORY_SECONDS = 10.0  # auth_service.broker.BrokerSettings.rejection_memory_seconds


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def http(interop_stack: Stack) -> Iterator[httpx.Client]:
    with interop_stack.client() as client:
        yield client


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_token_info_shows_a_keycloak_tokens_metadata_and_the_fetch_is_recorded(
    interop_stack: Stack, realm: RealmAdmin, http: httpx.Client
) -> None:
    interop_stack.flush_tokens()
    response = http.get("/v1/auth/token-info")
    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["token_type"], info["source"]) == ("Bearer", "provider")
    assert 0 < info["expires_in"] <= 300  # the realm's access token lifespan
    plans = stack.service_plans(interop_stack.cfg, {})
    with grpc.insecure_channel(plans["auth"].address) as channel:  # internal: who issued it
        token = auth_internal_pb2_grpc.TokenBrokerServiceStub(channel).GetAccessToken(
            auth_internal_pb2.GetAccessTokenRequest(), timeout=10
        )
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["iss"] == realm.issuer and claims["azp"] == SERVICES.client_id
    assert "https://supplier.farmlokal.test" in claims["aud"] and "supplier:read" in claims["scope"].split()
    assert fingerprint(token.access_token) == info["fingerprint"]
    engine = create_engine(make_url(interop_stack.root_url).set(database="auth"))
    with engine.connect() as conn:
        recorded = conn.execute(
            text("SELECT outcome, http_status FROM token_fetches WHERE fingerprint = :f"),
            {"f": info["fingerprint"]},
        ).all()
    engine.dispose()
    assert [tuple(row) for row in recorded] == [("ok", 200)]


def test_admin_routes_take_keycloak_admin_tokens_and_refuse_the_others(
    realm: RealmAdmin, http: httpx.Client
) -> None:
    admin = realm.token(ADMIN)
    assert http.get(STATUS, headers=_bearer(admin)).status_code == 200
    assert http.get("/v1/webhooks/subscriptions", headers=_bearer(admin)).status_code == 200
    sync = http.post(
        "/v1/supplier/sync", json={}, headers=_bearer(admin)
    )  # the supplier checks a Keycloak token
    assert sync.status_code == 200, sync.text
    assert sync.json()["fetched"] == 50 and not sync.json().get("error")

    no_scope = http.get(STATUS, headers=_bearer(realm.token(READER)))
    assert no_scope.status_code == 403, no_scope.text
    assert no_scope.json()["message"] == "this route needs a token with the catalog:admin scope"

    header, payload, signature = admin.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "someone-else"}).encode()).rstrip(b"=")
    refused = {
        "no token": {},
        "wrong audience": _bearer(realm.token(SERVICES)),  # aud: the supplier's, not the API's
        "tampered": _bearer(f"{header}.{forged.decode()}.{signature}"),
    }
    for case, headers in refused.items():
        response = http.get(STATUS, headers=headers)
        assert response.status_code == 401, f"{case}: {response.status_code} {response.text}"


def test_an_expired_token_passes_within_the_clock_skew_and_is_refused_beyond_it(
    realm: RealmAdmin, http: httpx.Client
) -> None:
    token = realm.token(SHORT_LIVED_ADMIN)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires + 1.5 - time.time()))
    assert http.get(STATUS, headers=_bearer(token)).status_code == 200  # expired 1.5 s ago, skew 5 s
    time.sleep(max(0.0, expires + CLOCK_SKEW_SECONDS + 1.5 - time.time()))
    late = http.get(STATUS, headers=_bearer(token))
    assert late.status_code == 401 and "expired" in late.text.lower()


def test_200_concurrent_callers_after_a_cache_flush_make_one_token_request(
    interop_stack: Stack, realm: RealmAdmin, http: httpx.Client
) -> None:
    interop_stack.flush_tokens()
    since = _now_ms()
    barrier = threading.Barrier(200)

    def call(_: int) -> tuple[int, str]:
        with interop_stack.client() as client:
            barrier.wait(30)
            response = client.get("/v1/auth/token-info")
            return response.status_code, response.json().get("fingerprint", response.text)

    with ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(call, range(200)))
    assert {status for status, _ in answers} == {200}
    assert len({fingerprint for _, fingerprint in answers}) == 1
    assert realm.login_events(SERVICES, since) == 1


@pytest.fixture
def wrong_secret_auth(interop_stack: Stack, run_dir: Path) -> Iterator[auth_pb2_grpc.TokenInfoServiceStub]:
    """A second auth service with a wrong client secret (its own Redis database: no shared token)."""
    plan = replace(
        stack.service_plans(interop_stack.cfg, {})["auth"],
        grpc_port=processes.free_port(),
        metrics_port=processes.free_port(),
        redis_url=f"redis://127.0.0.1:{interop_stack.cfg.port('redis')}/5",
    )
    settings = {**interop_stack.settings, "AUTH_CLIENT_SECRET": "not-the-secret"}
    proc = services.start(plan, run_dir / "auth-wrong-secret.log", settings)
    try:
        processes.wait_for_port(plan.grpc_port, 60, proc.process, "auth (wrong secret)")
        with grpc.insecure_channel(plan.address) as channel:
            yield auth_pb2_grpc.TokenInfoServiceStub(channel)
    finally:
        proc.stop()


def test_a_wrong_client_secret_is_a_clear_error_and_one_provider_call_per_rejection_memory(
    wrong_secret_auth: auth_pb2_grpc.TokenInfoServiceStub, realm: RealmAdmin, measurements: dict[str, str]
) -> None:
    since = _now_ms()

    def call(_: int) -> tuple[grpc.StatusCode, str]:
        try:
            wrong_secret_auth.GetTokenInfo(auth_pb2.GetTokenInfoRequest(), timeout=30)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""

    with ThreadPoolExecutor(64) as pool:
        burst = list(pool.map(call, range(260)))
    assert {code for code, _ in burst} == {grpc.StatusCode.UNAVAILABLE}
    assert all("refused the client credentials: unauthorized_client" in details for _, details in burst)
    assert realm.login_events(SERVICES, since, kind="CLIENT_LOGIN_ERROR") == 1

    steady_since, steady_seconds, calls = time.monotonic(), 15.0, 0
    while time.monotonic() - steady_since < steady_seconds:  # 20 callers a second
        assert call(0)[0] == grpc.StatusCode.UNAVAILABLE
        calls += 1
        time.sleep(0.05)
    errors = realm.login_events(SERVICES, since, kind="CLIENT_LOGIN_ERROR")
    allowed = 1 + int((time.monotonic() - steady_since) // REJECTION_MEMORY_SECONDS) + 1
    measurements["wrong secret"] = (
        f"260 concurrent calls + {calls} calls over {steady_seconds:.0f} s -> {errors} token requests at Keycloak"
    )
    assert 2 <= errors <= allowed


def test_an_https_jwks_is_checked_against_the_system_cas_unless_a_ca_file_is_given(
    interop_stack: Stack, realm: RealmAdmin, run_dir: Path
) -> None:
    """Keycloak's certificate comes from the suite's own CA: without EDGE_JWKS_CA_FILE the edge
    cannot fetch the JWKS, so even a valid admin token is refused."""
    plans = stack.service_plans(interop_stack.cfg, {})
    settings = {key: value for key, value in interop_stack.settings.items() if key != "EDGE_JWKS_CA_FILE"}
    options = EdgeSettings.from_env(settings).edge_options("http://unused/jwks")
    cfg, envoy, _ = start_edge(
        run_dir,
        "system-ca-edge",
        plans["catalog"].address,
        plans["webhook"].address,
        plans["auth"].address,
        **options,
    )
    try:
        with httpx.Client(trust_env=False, timeout=10) as client:
            refused = client.get(
                f"http://127.0.0.1:{cfg.listen_port}{STATUS}", headers=_bearer(realm.token(ADMIN))
            )
        assert refused.status_code == 401 and "jwks" in refused.text.lower(), refused.text
    finally:
        envoy.stop()


def _admin_calls(interop_stack: Stack, realm: RealmAdmin, old_token: str, stop: threading.Event) -> list[str]:
    """Admin requests with a fresh token and with one from before the rotation, until stop; the
    failures, described."""
    failures: list[str] = []
    with interop_stack.client() as client:
        while not stop.is_set():
            fresh = realm.token(ADMIN)
            for name, token in (("fresh", fresh), ("pre-rotation", old_token)):
                response = client.get(STATUS, headers=_bearer(token))
                if response.status_code != 200:
                    kid = jwt.get_unverified_header(token)["kid"]
                    failures.append(f"{name} token (kid {kid}): {response.status_code} {response.text[:120]}")
            time.sleep(0.2)
    return failures


def test_key_rotation_the_documented_way_rejects_no_admin_request(
    interop_stack: Stack, realm: RealmAdmin, measurements: dict[str, str]
) -> None:
    """README "Operations": publish the new key as passive, wait for the edge's JWKS cache, make it
    active; the old key stays published (passive) until its tokens have expired."""
    old_kid, old_token = realm.signing_kid(), realm.token(ADMIN)
    old_providers = [provider["id"] for provider in realm.rs256_key_providers()]
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        calls = pool.submit(_admin_calls, interop_stack, realm, old_token, stop)
        new_key = realm.add_rs256_key("rotated-documented", priority=200, active=False)
        assert realm.signing_kid() == old_kid  # published, not signing yet
        time.sleep(JWKS_CACHE_SECONDS + 2)
        realm.set_key(new_key, active=True)
        for provider in old_providers:
            realm.set_key(provider, active=False)  # passive: still verifies the tokens it signed
        new_kid = realm.signing_kid()
        time.sleep(3)
        stop.set()
        failures = calls.result()
    assert new_kid != old_kid and new_kid == realm.kid_of(new_key)
    measurements["documented rotation"] = f"{len(failures)} admin requests rejected"
    assert failures == []


def test_an_abrupt_rotation_is_measured(
    interop_stack: Stack, realm: RealmAdmin, http: httpx.Client, measurements: dict[str, str]
) -> None:
    """A new key made active at once and the old one disabled: the edge keeps the old JWKS until its
    cache expires, so new tokens fail and old ones pass until then (bounded by the cache)."""
    old_token = realm.token(ADMIN)
    old_providers = [provider["id"] for provider in realm.rs256_key_providers()]
    rotated = time.monotonic()
    new_key = realm.add_rs256_key("rotated-abruptly", priority=300, active=True)
    for provider in old_providers:
        realm.set_key(provider, enabled=False)
    new_rejected_until = old_accepted_until = None
    while time.monotonic() - rotated < JWKS_CACHE_SECONDS + 5:
        elapsed = time.monotonic() - rotated
        if (
            new_rejected_until is None
            and http.get(STATUS, headers=_bearer(realm.token(ADMIN))).status_code == 200
        ):
            new_rejected_until = elapsed
        if old_accepted_until is None and http.get(STATUS, headers=_bearer(old_token)).status_code == 401:
            old_accepted_until = elapsed
        if new_rejected_until is not None and old_accepted_until is not None:
            break
        time.sleep(0.2)
    assert realm.signing_kid() == realm.kid_of(new_key)
    assert new_rejected_until is not None and old_accepted_until is not None
    measurements["abrupt rotation"] = (
        f"new-key tokens rejected for {new_rejected_until:.1f} s, disabled-key tokens accepted for "
        f"{old_accepted_until:.1f} s (EDGE_JWKS_CACHE_SECONDS={JWKS_CACHE_SECONDS})"
    )
    assert new_rejected_until <= JWKS_CACHE_SECONDS + 2 and old_accepted_until <= JWKS_CACHE_SECONDS + 2
