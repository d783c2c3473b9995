"""A stand-in OAuth2 provider: client credentials (RFC 6749 §4.4), RS256 JWT access tokens, JWKS.

Dev clients (ids fixed, secrets from SandboxSettings):

| client_id            | default secret        | scopes                          | audience (default first)          |
|----------------------|-----------------------|---------------------------------|-----------------------------------|
| `farmlokal-services` | `dev-services-secret` | `supplier:read`                 | `https://supplier.farmlokal.test` |
| `farmlokal-admin`    | `dev-admin-secret`    | `catalog:admin webhooks:admin`  | `https://api.farmlokal.test`      |

The first matches auth_service's defaults; the second is for administrators calling the edge's
admin routes (`farmlokal_edge.EdgeConfig` checks issuer and audience against these defaults).

- `POST /oauth/token`: `grant_type=client_credentials`, client authentication by HTTP Basic
  (client_secret_basic) or form fields (client_secret_post), optional `audience` and `scope`.
  Errors are RFC 6749 §5.2 JSON bodies; an audience the client may not request is RFC 8707's
  `invalid_target`. Every answer carries `Cache-Control: no-store`.
- `GET /.well-known/jwks.json`: the public key (generated at startup unless a PEM file is set).
- Test controls: `POST /_sandbox/oauth/latency {"seconds"}`, `POST /_sandbox/oauth/expires-in
  {"seconds"}`, `POST /_sandbox/oauth/fail-next {"count", "status", "error"?}`,
  `POST /_sandbox/oauth/reset`, `GET /_sandbox/oauth/counters`.

Logs name the client and the outcome, never a secret or a token.

An admin call through the dev edge:

    TOKEN=$(curl -s -u farmlokal-admin:dev-admin-secret -d grant_type=client_credentials \
      http://127.0.0.1:18090/oauth/token | python -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/webhooks/subscriptions
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from sandbox.oauth_grant import OAuthClient, OAuthError, TokenIssuer
from sandbox.oauth_keys import SigningKey
from sandbox.settings import SandboxSettings

# A child of uvicorn's logger, so the lines land in the sandbox's log with uvicorn's own.
log = logging.getLogger("uvicorn.error.oauth")

SERVICES_AUDIENCE = "https://supplier.farmlokal.test"
API_AUDIENCE = "https://api.farmlokal.test"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
DEFAULT_ERRORS = {400: "invalid_request", 401: "invalid_client", 429: "slow_down"}


def dev_clients(settings: SandboxSettings) -> tuple[OAuthClient, ...]:
    return (
        OAuthClient(
            "farmlokal-services",
            settings.oauth_services_secret,
            frozenset({"supplier:read"}),
            (SERVICES_AUDIENCE,),
        ),
        OAuthClient(
            "farmlokal-admin",
            settings.oauth_admin_secret,
            frozenset({"catalog:admin", "webhooks:admin"}),
            (API_AUDIENCE,),
        ),
    )


@dataclass
class Controls:
    """What tests may change at run time, and the counters they read."""

    default_expires_in: int
    expires_in: int = 0
    latency_seconds: float = 0.0
    fail_count: int = 0
    fail_status: int = 503
    fail_error: str = ""
    requests: int = 0  # counted on arrival, so a caller killed mid-request still counts
    outcomes: Counter[str] = field(default_factory=Counter)
    jwks_requests: int = 0

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.expires_in = self.default_expires_in
        self.latency_seconds = 0.0
        self.fail_count = 0
        self.requests = 0
        self.outcomes.clear()
        self.jwks_requests = 0

    def counters(self) -> dict[str, Any]:
        return {
            "token_requests": {"total": self.requests, "by_outcome": dict(self.outcomes)},
            "jwks_requests": self.jwks_requests,
        }


def routes(settings: SandboxSettings) -> list[BaseRoute]:
    issuer = TokenIssuer(
        dev_clients(settings),
        SigningKey.from_settings(settings.oauth_private_key_file),
        settings.oauth_issuer,
    )
    return provider_routes(issuer, Controls(settings.oauth_expires_in))


def provider_routes(issuer: TokenIssuer, controls: Controls) -> list[BaseRoute]:
    async def token(request: Request) -> JSONResponse:
        controls.requests += 1
        if controls.latency_seconds > 0:
            await asyncio.sleep(controls.latency_seconds)
        if controls.fail_count > 0:
            controls.fail_count -= 1
            controls.outcomes["injected_failure"] += 1
            error = controls.fail_error or DEFAULT_ERRORS.get(controls.fail_status, "server_error")
            log.info("token request: injected failure %d %s", controls.fail_status, error)
            return _error(OAuthError(error, "failure injected by the sandbox", controls.fail_status))
        body = await request.body()
        try:
            granted = issuer.issue(
                request.headers.get("content-type", ""),
                body,
                request.headers.get("authorization"),
                controls.expires_in,
            )
        except OAuthError as error:
            controls.outcomes[error.error] += 1
            log.info("token request: %s (%s)", error.error, error.description)
            return _error(error)
        controls.outcomes["issued"] += 1
        log.info("token request: issued to %s, scope %r", granted.client_id, granted.scope)
        return JSONResponse(granted.response(), headers=NO_STORE)

    async def jwks(request: Request) -> JSONResponse:
        controls.jwks_requests += 1
        return JSONResponse(issuer.key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def set_latency(request: Request) -> JSONResponse:
        controls.latency_seconds = await _number(request, "seconds", 0, 120)
        return _controls_state(controls)

    async def set_expires_in(request: Request) -> JSONResponse:
        controls.expires_in = int(await _number(request, "seconds", 1, 86400))
        return _controls_state(controls)

    async def fail_next(request: Request) -> JSONResponse:
        count = int(await _number(request, "count", 0, 1_000_000))
        status = int(await _number(request, "status", 400, 599))
        error = (await _json(request)).get("error", "")
        if not isinstance(error, str):
            raise _BadControl("error must be a string")
        controls.fail_count, controls.fail_status, controls.fail_error = count, status, error
        return _controls_state(controls)

    async def reset(request: Request) -> JSONResponse:
        controls.reset()
        return _controls_state(controls)

    async def counters(request: Request) -> JSONResponse:
        return JSONResponse(controls.counters())

    def guarded(endpoint: Any) -> Any:
        async def run(request: Request) -> JSONResponse:
            try:
                response: JSONResponse = await endpoint(request)
            except _BadControl as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            return response

        return run

    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/_sandbox/oauth/latency", guarded(set_latency), methods=["POST"]),
        Route("/_sandbox/oauth/expires-in", guarded(set_expires_in), methods=["POST"]),
        Route("/_sandbox/oauth/fail-next", guarded(fail_next), methods=["POST"]),
        Route("/_sandbox/oauth/reset", reset, methods=["POST"]),
        Route("/_sandbox/oauth/counters", counters, methods=["GET"]),
    ]


def _error(error: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox-oauth", charset="UTF-8"'
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    return JSONResponse(body, status_code=error.status, headers=headers)


class _BadControl(ValueError):
    """A test-control request that makes no sense (answered with 400)."""


def _controls_state(controls: Controls) -> JSONResponse:
    return JSONResponse(
        {
            "latency_seconds": controls.latency_seconds,
            "expires_in": controls.expires_in,
            "fail_next": {"count": controls.fail_count, "status": controls.fail_status},
        }
    )


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise _BadControl("the body must be a JSON object") from error
    if not isinstance(body, dict):
        raise _BadControl("the body must be a JSON object")
    return body


async def _number(request: Request, name: str, low: float, high: float) -> float:
    value = (await _json(request)).get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _BadControl(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)
