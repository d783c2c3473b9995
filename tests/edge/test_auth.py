"""Admin routes: which need a JWT and which scope (declared in the protos), the JWT provider, filter order."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from farmlokal_edge import EdgeConfig, render_edge_config, validate_edge_config, write_edge_config
from farmlokal_edge.names import JWKS_CLUSTER, JWT_AUTHN_FILTER, JWT_PROVIDER, RBAC_FILTER
from farmlokal_edge.settings import EdgeSettings
from tests.edge.conftest import hcm, method_routes

ADMIN_SCOPES = {
    "farmlokal.catalog.v1.SupplierService": "catalog:admin",
    "farmlokal.webhook.v1.WebhookAdminService": "webhooks:admin",
}


def test_every_admin_route_needs_a_jwt_and_its_scope(cfg: EdgeConfig) -> None:
    checked = 0
    for name, route in method_routes(cfg).items():
        service = name.split("/")[0]
        per_filter = route.get("typed_per_filter_config", {})
        if service not in ADMIN_SCOPES:
            assert JWT_AUTHN_FILTER not in per_filter, name
            assert RBAC_FILTER not in per_filter, name
            continue
        checked += 1
        assert per_filter[JWT_AUTHN_FILTER]["requirement_name"] == "admin"
        (policy,) = per_filter[RBAC_FILTER]["rbac"]["rules"]["policies"].values()
        assert ADMIN_SCOPES[service] in json.dumps(policy)
    assert checked == 20  # 2 supplier methods, 8 webhook admin methods, each for REST and native gRPC


def test_jwt_provider_checks_issuer_audience_and_jwks_from_config(cfg: EdgeConfig) -> None:
    filters = {f["name"]: f["typed_config"] for f in hcm(cfg)["http_filters"]}
    provider = filters[JWT_AUTHN_FILTER]["providers"][JWT_PROVIDER]
    assert provider["issuer"] == "https://issuer.test/"
    assert provider["audiences"] == ["https://api.test"]
    assert provider["remote_jwks"]["http_uri"]["uri"] == "http://oauth.internal:8443/.well-known/jwks.json"
    assert provider["forward"] is False  # the bearer token never reaches the services
    assert provider["claim_to_headers"] == [{"header_name": "x-auth-subject", "claim_name": "sub"}]
    clusters = {c["name"]: c for c in json.loads(render_edge_config(cfg))["static_resources"]["clusters"]}
    assert clusters[JWKS_CLUSTER]["type"] == "STRICT_DNS"


def test_subject_is_stripped_before_jwt_authn_and_auth_runs_after_transcoding(cfg: EdgeConfig) -> None:
    names = [f["name"] for f in hcm(cfg)["http_filters"]]
    strip = names.index("envoy.filters.http.header_mutation")
    transcoder = names.index("envoy.filters.http.grpc_json_transcoder")
    jwt_authn, rbac = names.index(JWT_AUTHN_FILTER), names.index(RBAC_FILTER)
    assert strip < transcoder < jwt_authn < rbac < names.index("envoy.filters.http.router")
    mutation = hcm(cfg)["http_filters"][strip]["typed_config"]["mutations"]["request_mutations"]
    assert {"remove": "x-auth-subject"} in mutation


def test_defaults_match_the_dev_sandbox() -> None:
    from sandbox.oauth import API_AUDIENCE
    from sandbox.settings import SandboxSettings

    sandbox = SandboxSettings()
    fields = EdgeConfig.__dataclass_fields__
    assert fields["jwt_issuer"].default == sandbox.oauth_issuer
    assert fields["jwt_audiences"].default == (API_AUDIENCE,)
    assert fields["jwks_uri"].default == f"http://127.0.0.1:{sandbox.port}/.well-known/jwks.json"
    assert EdgeSettings.from_env({}).edge_options("http://sandbox/jwks") == {
        "jwt_issuer": sandbox.oauth_issuer,
        "jwt_audiences": (API_AUDIENCE,),
        "jwks_uri": "http://sandbox/jwks",
        "jwks_ca_file": None,
        "jwks_cache_seconds": 300,
        "jwt_clock_skew_seconds": 30,
    }


KEYCLOAK = {
    "EDGE_JWT_ISSUER": "https://sso.example.com/realms/farmlokal",
    "EDGE_JWT_AUDIENCES": "https://api.farmlokal.test, account",
    "EDGE_JWKS_URI": "https://sso.example.com/realms/farmlokal/protocol/openid-connect/certs",
    "EDGE_JWKS_CACHE_SECONDS": "60",
    "EDGE_JWT_CLOCK_SKEW_SECONDS": "5",
}


def _rendered(cfg: EdgeConfig, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JWT provider and the JWKS cluster of cfg with the provider settings of env."""
    cfg = replace(cfg, **EdgeSettings.from_env(env).edge_options("http://unused/jwks"))
    filters = {f["name"]: f["typed_config"] for f in hcm(cfg)["http_filters"]}
    clusters = {c["name"]: c for c in json.loads(render_edge_config(cfg))["static_resources"]["clusters"]}
    return filters[JWT_AUTHN_FILTER]["providers"][JWT_PROVIDER], clusters[JWKS_CLUSTER]


def test_provider_settings_reach_jwt_authn(cfg: EdgeConfig) -> None:
    provider, _ = _rendered(cfg, KEYCLOAK)
    assert provider["issuer"] == KEYCLOAK["EDGE_JWT_ISSUER"]
    assert provider["audiences"] == ["https://api.farmlokal.test", "account"]
    assert provider["remote_jwks"]["http_uri"]["uri"] == KEYCLOAK["EDGE_JWKS_URI"]
    assert provider["remote_jwks"]["cache_duration"] == "60s"
    assert provider["clock_skew_seconds"] == 5


def test_an_https_jwks_is_fetched_over_verified_tls(cfg: EdgeConfig, tmp_path: Path) -> None:
    _, system_ca = _rendered(cfg, KEYCLOAK)
    tls = system_ca["transport_socket"]["typed_config"]
    assert tls["sni"] == "sso.example.com"
    validation = tls["common_tls_context"]["validation_context"]
    assert validation["trusted_ca"] == {"filename": "/etc/ssl/certs/ca-certificates.crt"}
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "sso.example.com"}}
    ]
    address = system_ca["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "sso.example.com", "port_value": 443}
    assert system_ca["dns_lookup_family"] == "V4_PREFERRED"  # `localhost` is not ::1 first
    _, own_ca = _rendered(cfg, {**KEYCLOAK, "EDGE_JWKS_CA_FILE": "/etc/farmlokal/ca.pem"})
    own = own_ca["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
    assert own["trusted_ca"] == {"filename": "/etc/farmlokal/ca.pem"}
    _, plain = _rendered(cfg, {"EDGE_JWKS_URI": "http://10.0.0.7:8080/certs"})
    assert "transport_socket" not in plain and plain["type"] == "STATIC" and "dns_lookup_family" not in plain
    validate_edge_config(write_edge_config(replace(cfg, **_options(KEYCLOAK)), tmp_path / "envoy.yaml"))


def _options(env: dict[str, str]) -> dict[str, Any]:
    return EdgeSettings.from_env(env).edge_options("http://unused/jwks")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EDGE_JWKS_URI", "ftp://sso.example.com/certs"),
        ("EDGE_JWKS_URI", "/realms/farmlokal/certs"),
        ("EDGE_JWT_AUDIENCES", " , "),
        ("EDGE_JWKS_CACHE_SECONDS", "-1"),
        ("EDGE_JWT_CLOCK_SKEW_SECONDS", "soon"),
    ],
)
def test_bad_provider_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name.removeprefix("EDGE_").lower()):
        EdgeSettings.from_env({name: value})
