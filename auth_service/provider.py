"""OAuth2 client-credentials calls to the provider's token endpoint (RFC 6749 §4.4, errors §5.2)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from auth_service.tokens import Token
from farmlokal_common.errors import FailedPrecondition, Unavailable
from farmlokal_common.retry import Deadline, RetryPolicy

log = logging.getLogger("farmlokal.auth.provider")


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
    def __init__(
        self,
        client: httpx.Client,
        credentials: ClientCredentials,
        policy: RetryPolicy,
        deadline_seconds: float = 8.0,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._policy = policy
        self._deadline_seconds = deadline_seconds

    def fetch(
        self, audience: str, scope: str, record: Callable[[FetchOutcome], None] = lambda _: None
    ) -> Token:
        """One token, retrying 5xx, 408, 429, timeouts and connection errors with jittered backoff."""
        deadline = Deadline.after(self._deadline_seconds)
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(audience, scope, deadline)
            record(outcome)
            if outcome.token is not None:
                return outcome.token
            if outcome.outcome == "rejected":
                raise ProviderRejected(f"the OAuth provider refused the client credentials: {outcome.error}")
            delay = self._policy.backoff(attempt, outcome.retry_after)
            if attempt >= self._policy.max_attempts or not deadline.allows(delay):
                raise Unavailable(
                    f"the OAuth provider is unavailable ({outcome.error}); gave up after {attempt} attempts"
                )
            time.sleep(delay)

    def _attempt(self, audience: str, scope: str, deadline: Deadline) -> FetchOutcome:
        form = {"grant_type": "client_credentials"}
        if audience:
            form["audience"] = audience
        if scope:
            form["scope"] = scope
        auth: httpx.Auth | None = None
        if self._credentials.auth_method == "client_secret_post":
            form |= {
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
            }
        else:
            auth = httpx.BasicAuth(self._credentials.client_id, self._credentials.client_secret)
        started = time.perf_counter()
        timeout = httpx.Timeout(min(2.0, max(0.05, deadline.remaining())))
        try:
            response = self._client.post(
                self._credentials.token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, timeout=timeout
            )
        except httpx.TimeoutException:
            return FetchOutcome("timeout", None, _ms(started), error="timeout")
        except httpx.TransportError as error:
            return FetchOutcome("connection_error", None, _ms(started), error=type(error).__name__)
        latency = _ms(started)
        if response.status_code == 200:
            return self._parse(response, latency)
        if response.status_code >= 500 or response.status_code in (408, 429):
            return FetchOutcome(
                "server_error",
                response.status_code,
                latency,
                error=f"HTTP {response.status_code}",
                retry_after=_retry_after(response),
            )
        return FetchOutcome("rejected", response.status_code, latency, error=_oauth_error(response))

    @staticmethod
    def _parse(response: httpx.Response, latency: int) -> FetchOutcome:
        try:
            body = response.json()
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
        body = response.json()
        code = str(body.get("error", f"HTTP {response.status_code}"))
        description = str(body.get("error_description", ""))[:200]
    except ValueError:
        return f"HTTP {response.status_code}"
    return f"{code} ({description})" if description else code


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
