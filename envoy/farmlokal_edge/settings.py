"""Whose tokens the edge's admin routes trust, from EDGE_* variables: the same for `make up`, compose and Helm.

`make up` (devstack), compose's edge-config job and the chart's (`python -m farmlokal_edge --out`)
all read them here and hand them to EdgeConfig; unset, they trust the dev sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from farmlokal_edge.clusters import jwks_endpoint
from farmlokal_edge.config import SANDBOX_API_AUDIENCE, SANDBOX_ISSUER


class EdgeSettings(BaseSettings):
    """The OAuth2 provider of the admin routes (Envoy's jwt_authn)."""

    model_config = SettingsConfigDict(env_prefix="EDGE_", frozen=True, extra="ignore")

    # The `iss` every admin token must carry, exactly (Keycloak: https://HOST/realms/REALM).
    jwt_issuer: str = SANDBOX_ISSUER
    # Comma-separated; a token's `aud` must hold one of them.
    jwt_audiences: str = SANDBOX_API_AUDIENCE
    # The provider's JWKS, http or https; empty: the deployment's sandbox (its host and port).
    jwks_uri: str = ""
    # PEM bundle that an https JWKS is verified against; empty: the system's CA bundle.
    jwks_ca_file: str = ""
    # Envoy refetches the JWKS this often, and not sooner for an unknown key: publish a new signing
    # key this long before it signs (README "Operations": key rotation).
    jwks_cache_seconds: int = 300
    # An expired token still passes for this long (clock differences between provider and edge).
    jwt_clock_skew_seconds: int = 30

    @field_validator("jwks_uri")
    @classmethod
    def _http_or_https(cls, value: str) -> str:
        if value:
            jwks_endpoint(value)
        return value

    @field_validator("jwt_audiences")
    @classmethod
    def _some_audience(cls, value: str) -> str:
        if not _split(value):
            raise ValueError("EDGE_JWT_AUDIENCES needs at least one audience")
        return value

    @field_validator("jwks_cache_seconds", "jwt_clock_skew_seconds")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more seconds")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EdgeSettings:
        """From env alone: a field it lacks, or holds empty, takes its default (whatever os.environ
        holds), so compose can pass `${EDGE_JWT_ISSUER:-}` through."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        values: dict[str, Any] = {
            name: env.get(f"{prefix}{name}".upper()) or field.default
            for name, field in cls.model_fields.items()
        }
        return cls(**values)

    def edge_options(self, sandbox_jwks_uri: str) -> dict[str, Any]:
        """EdgeConfig's provider fields; sandbox_jwks_uri is the JWKS when EDGE_JWKS_URI is unset."""
        return {
            "jwt_issuer": self.jwt_issuer,
            "jwt_audiences": _split(self.jwt_audiences),
            "jwks_uri": self.jwks_uri or sandbox_jwks_uri,
            "jwks_ca_file": Path(self.jwks_ca_file) if self.jwks_ca_file else None,
            "jwks_cache_seconds": self.jwks_cache_seconds,
            "jwt_clock_skew_seconds": self.jwt_clock_skew_seconds,
        }


def _split(audiences: str) -> tuple[str, ...]:
    return tuple(audience.strip() for audience in audiences.split(",") if audience.strip())
