"""OAuth2 client-credentials calls to the provider's token endpoint (RFC 6749 §4.4, errors §5.2)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from auth_service.tokens import Token
from farmlokal_common.circuit_breaker import UpstreamBreaker
from farmlokal_common.errors import FailedPrecondition, Unavailable
from farmlokal_common.http_client import Attempt, ResilientClient
from farmlokal_common.json_body import load_json
from farmlokal_common.retry import RetryPolicy

log = logging.getLogger("farmlokal.auth.provider")

UPSTREAM = "oauth_provider"  # names the breaker, the metrics and the error messages


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    # client_secret_basic (HTTP Basic) or client_secret_post (form fields, e.g. Auth0).
    auth_method: str = "client_secret_basic"


@dataclass(frozen=True)
class FetchOutcome:
    """What the fetch log records: never the token."""

    outcome: str
    http_status: int | None
    latency_ms: int
    token: Token | None = None
    error: str = ""
    retry_after: float | None = None


class ProviderRejected(FailedPrecondition):
    """A final 4xx from the provider (e.g. invalid_client): retrying cannot help."""


class TokenProvider:
    """Fetches tokens through the shared ResilientClient: its retry loop is the only one."""

    def __init__(
        self,
        client: httpx.Client,
        credentials: ClientCredentials,
        policy: RetryPolicy,
        deadline_seconds: float = 8.0,
        breaker: UpstreamBreaker | None = None,
    ) -> None:
        self._http = ResilientClient(
            UPSTREAM, client, policy=policy, breaker=breaker, deadline_seconds=deadline_seconds
        )
        self._credentials = credentials

    def fetch(
        self, audience: str, scope: str, record: Callable[[FetchOutcome], None] = lambda _: None
    ) -> Token:
        """One token, retrying 5xx, 408, 429, timeouts and connection errors with jittered backoff.

        The token POST is safe to repeat (a second token is harmless), so it is marked idempotent.
        """

        attempts: list[Attempt] = []

        def on_attempt(attempt: Attempt) -> None:
            attempts.append(attempt)
            if attempt.retryable:  # answers are recorded below, with what they meant
                record(FetchOutcome(attempt.outcome, attempt.status, attempt.latency_ms, error=attempt.error))

        form, auth = self._form(audience, scope)
        response = self._http.request(  # UpstreamUnavailable (an Unavailable) when attempts run out
            "POST", self._credentials.token_url, idempotent=True, on_attempt=on_attempt, data=form, auth=auth
        )
        latency = attempts[-1].latency_ms
        if response.status_code != 200:
            outcome = FetchOutcome("rejected", response.status_code, latency, error=_oauth_error(response))
            record(outcome)
            raise ProviderRejected(f"the OAuth provider refused the client credentials: {outcome.error}")
        outcome = self._parse(response, latency)
        record(outcome)
        if outcome.token is None:
            raise Unavailable(f"the OAuth provider answered badly: {outcome.error}")
        return outcome.token

    def _form(self, audience: str, scope: str) -> tuple[dict[str, str], httpx.Auth | None]:
        form = {"grant_type": "client_credentials"}
        if audience:
            form["audience"] = audience
        if scope:
            form["scope"] = scope
        if self._credentials.auth_method == "client_secret_post":
            form |= {
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
            }
            return form, None
        return form, httpx.BasicAuth(self._credentials.client_id, self._credentials.client_secret)

    @staticmethod
    def _parse(response: httpx.Response, latency: int) -> FetchOutcome:
        try:
            body = load_json(response.content)  # JsonBodyError is a ValueError
            token = Token(
                str(body["access_token"]),
                str(body.get("token_type", "Bearer")),
                time.time() + float(body["expires_in"]),
            )
        except (ValueError, KeyError, TypeError):
            return FetchOutcome(
                "bad_response", 200, latency, error="token response without access_token/expires_in"
            )
        return FetchOutcome("ok", 200, latency, token=token)


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 error code (and its description), e.g. 'invalid_client'; never echoes secrets."""
    try:
        body = load_json(response.content)  # JsonBodyError is a ValueError
        code = str(body.get("error", f"HTTP {response.status_code}"))
        description = str(body.get("error_description", ""))[:200]
    except ValueError:
        return f"HTTP {response.status_code}"
    return f"{code} ({description})" if description else code
