"""Admin routes: bearer JWTs verified against the provider's JWKS (jwt_authn), scopes checked (RBAC)."""

from __future__ import annotations

import re
from typing import Any

from farmlokal_edge.config import EdgeConfig
from farmlokal_edge.names import (
    JWKS_CLUSTER,
    JWT_AUTHN_FILTER,
    JWT_PAYLOAD_METADATA,
    JWT_PROVIDER,
    RBAC_FILTER,
    SUBJECT_HEADER,
)


def jwt_authn_filter(cfg: EdgeConfig) -> dict[str, Any]:
    """Verifies bearer JWTs (signature by the provider's JWKS, issuer, audience, expiry) on the routes
    that ask for it; other routes pass untouched. A verified token's header is not forwarded (the
    services never see it), its subject is, and its payload is left for RBAC.
    """
    provider = {
        "issuer": cfg.jwt_issuer,
        "audiences": list(cfg.jwt_audiences),
        "remote_jwks": {
            "http_uri": {"uri": cfg.jwks_uri, "cluster": JWKS_CLUSTER, "timeout": "2s"},
            # Also the refetch period: Envoy never refetches early for a token with an unknown `kid`.
            "cache_duration": f"{cfg.jwks_cache_seconds}s",
            # Fetched before the listener opens (a request never waits for it); refetched every 2 s
            # while the provider cannot be reached.
            "async_fetch": {"fast_listener": False, "failed_refetch_duration": "2s"},
            "retry_policy": {
                "num_retries": 2,
                "retry_back_off": {"base_interval": "0.2s", "max_interval": "1s"},
            },
        },
        "forward": False,
        "clock_skew_seconds": cfg.jwt_clock_skew_seconds,
        "claim_to_headers": [{"header_name": SUBJECT_HEADER, "claim_name": "sub"}],
        "payload_in_metadata": JWT_PAYLOAD_METADATA,
    }
    return {
        "name": JWT_AUTHN_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {JWT_PROVIDER: provider},
            "requirement_map": {"admin": {"provider_name": JWT_PROVIDER}},
        },
    }


def rbac_filter() -> dict[str, Any]:
    """Enforces nothing by itself: the admin routes carry their scope policy (admin_route_config)."""
    return {
        "name": RBAC_FILTER,
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"},
    }


def admin_route_config(scope: str) -> dict[str, Any]:
    """A valid JWT is required (else 401), and its `scope` claim must hold `scope` (else 403).
    The claim is a space-separated string (RFC 8693, what the sandbox and Auth0 issue) or a list.
    """

    def scope_claim(value_match: dict[str, Any]) -> dict[str, Any]:
        matcher = {
            "filter": JWT_AUTHN_FILTER,
            "path": [{"key": JWT_PAYLOAD_METADATA}, {"key": "scope"}],
            "value": value_match,
        }
        return {"sourced_metadata": {"metadata_matcher": matcher, "metadata_source": "DYNAMIC"}}

    as_word = {"string_match": {"safe_regex": {"regex": f"(.* )?{re.escape(scope)}( .*)?"}}}
    in_list = {"list_match": {"one_of": {"string_match": {"exact": scope}}}}
    policy = {
        "permissions": [{"any": True}],
        "principals": [{"or_ids": {"ids": [scope_claim(as_word), scope_claim(in_list)]}}],
    }
    return {
        JWT_AUTHN_FILTER: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
            "requirement_name": "admin",
        },
        RBAC_FILTER: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
            "rbac": {"rules": {"action": "ALLOW", "policies": {f"scope {scope}": policy}}},
        },
    }
