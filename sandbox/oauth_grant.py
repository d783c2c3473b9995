"""The client-credentials grant itself: request parsing, client authentication, scope and audience.

Checks run in the order a careful provider uses: a well-formed request (`invalid_request`), an
authenticated client (`invalid_client`, 401), a grant type we serve (`unsupported_grant_type`) and
the client may use (`unauthorized_client`), scopes within the client's (`invalid_scope`), and an
audience it may ask for (`invalid_target`, RFC 8707).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from sandbox.oauth_keys import SigningKey

FORM_TYPE = "application/x-www-form-urlencoded"
CLIENT_CREDENTIALS = "client_credentials"
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    scopes: frozenset[str]
    audiences: tuple[str, ...]  # the first is the default when the request names none
    grant_types: frozenset[str] = frozenset({CLIENT_CREDENTIALS})


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Granted:
    client_id: str
    access_token: str
    scope: str
    expires_in: int

    def response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }

    def __repr__(self) -> str:  # never print the token
        return f"Granted({self.client_id}, scope={self.scope!r}, expires_in={self.expires_in})"


class TokenIssuer:
    def __init__(
        self,
        clients: tuple[OAuthClient, ...],
        key: SigningKey,
        issuer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = {client.client_id: client for client in clients}
        self.key = key
        self.issuer = issuer
        self._clock = clock

    def issue(self, content_type: str, body: bytes, authorization: str | None, expires_in: int) -> Granted:
        form = _form(content_type, body)
        if "grant_type" not in form:
            raise OAuthError("invalid_request", "grant_type is required")
        client = self._authenticate(form, authorization)
        if form["grant_type"] != CLIENT_CREDENTIALS:
            raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
        if CLIENT_CREDENTIALS not in client.grant_types:
            raise OAuthError("unauthorized_client", "this client may not use client_credentials")
        scopes = _scopes(form.get("scope"), client)
        audience = form.get("audience") or client.audiences[0]
        if audience not in client.audiences:
            raise OAuthError("invalid_target", "this client may not request that audience")
        now = int(self._clock())
        scope = " ".join(sorted(scopes))
        claims = {
            "iss": self.issuer,
            "sub": client.client_id,
            "aud": audience,
            "scope": scope,
            "client_id": client.client_id,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }
        return Granted(client.client_id, self.key.sign(claims), scope, expires_in)

    def _authenticate(self, form: dict[str, str], authorization: str | None) -> OAuthClient:
        in_form = "client_id" in form or "client_secret" in form
        if authorization is not None and authorization.split(" ", 1)[0].lower() == "basic":
            if in_form:
                raise OAuthError("invalid_request", "use one client authentication method, not two")
            client_id, secret = _basic(authorization)
        elif in_form:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        else:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        client = self._clients.get(client_id)
        # Compare even for an unknown client, so timing does not tell which part was wrong.
        expected = client.client_secret if client else "\0" * 32
        if not hmac.compare_digest(secret.encode(), expected.encode()) or client is None:
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";", 1)[0].strip().lower() != FORM_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {FORM_TYPE}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise OAuthError("invalid_request", "the request body is not a valid form") from error
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"parameter {name} is repeated")
        form[name] = value
    return form


def _basic(authorization: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':' and base64-encoded."""
    try:
        decoded = base64.b64decode(authorization.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
    except (IndexError, binascii.Error, UnicodeDecodeError) as error:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from error
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def _scopes(requested: str | None, client: OAuthClient) -> frozenset[str]:
    """No (or an empty) scope means every scope the client has (RFC 6749 §3.3 allows a default)."""
    if not requested:
        return client.scopes
    tokens = requested.split(" ")
    if not all(SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise OAuthError("invalid_scope", "scope must be space-separated scope tokens")
    unknown = set(tokens) - client.scopes
    if unknown:
        raise OAuthError("invalid_scope", f"not allowed for this client: {' '.join(sorted(unknown))}")
    return frozenset(tokens)
