"""Bearer tokens the sandbox supplier accepts: RS256 JWTs of the sandbox OAuth provider (RFC 6750, RFC 9068).

A token passes when its signature verifies with a key from the provider's JWKS (or a PEM public
key given in the settings), it has not expired, its audience is the supplier's, its issuer is the
provider's and its scope holds `supplier:read`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from sandbox.settings import SandboxSettings


class TokenRejected(Exception):
    """`error` is the RFC 6750 code the WWW-Authenticate header carries."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        return 403 if self.error == "insufficient_scope" else 401

    def challenge(self) -> str:
        return f'Bearer error="{self.error}", error_description="{self.description}"'


class KeySource(Protocol):
    async def key(self, kid: str | None) -> Any: ...


class StaticKey:
    def __init__(self, public_key_pem: str) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem.encode())

    async def key(self, kid: str | None) -> Any:
        return self._key


class JwksKeys:
    """The provider's JWKS, fetched on first use and again (at most every few seconds) for an unknown kid."""

    def __init__(self, url: str, min_refresh_seconds: float = 5.0) -> None:
        self._url = url
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = 0.0

    async def key(self, kid: str | None) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at > self._min_refresh:
            await self._fetch()
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise TokenRejected("invalid_token", "the token was not signed by a known key")

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
                response = await client.get(self._url)
            jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError):
            return  # unknown keys stay unknown: the token is rejected, the next one retries
        self._keys = {key.key_id: key.key for key in jwks.keys}


class TokenVerifier:
    def __init__(self, keys: KeySource, audience: str, scope: str, issuer: str = "") -> None:
        self._keys = keys
        self._audience = audience
        self._scope = scope
        self._issuer = issuer

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> TokenVerifier:
        keys: KeySource
        if settings.supplier_jwt_public_key:
            keys = StaticKey(settings.supplier_jwt_public_key)
        else:
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
            keys = JwksKeys(
                settings.supplier_jwks_url or f"http://{host}:{settings.port}/.well-known/jwks.json"
            )
        issuer = settings.supplier_token_issuer or settings.oauth_issuer
        return cls(keys, settings.supplier_token_audience, settings.supplier_token_scope, issuer)

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("invalid_token", "a bearer token is required")
        try:
            header = jwt.get_unverified_header(token.strip())
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                await self._keys.key(header.get("kid")),
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer or None,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("invalid_token", "the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected(
                "invalid_token", f"the token is not valid here: {type(error).__name__}"
            ) from None
        scopes = claims.get("scope", "")
        granted = set(scopes.split() if isinstance(scopes, str) else scopes)
        if self._scope and self._scope not in granted:
            raise TokenRejected("insufficient_scope", f"the token lacks the scope {self._scope}")
        return claims
