"""The edge's admin-route configuration: which routes need a JWT and scope, and the filter order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devstack import edge
from devstack.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
ADMIN_SCOPES = {
    "farmlokal.catalog.v1.SupplierService": "catalog:admin",
    "farmlokal.webhook.v1.WebhookAdminService": "webhooks:admin",
}


@pytest.fixture
def cfg() -> edge.EdgeConfig:
    return edge.EdgeConfig(
        listen_port=free_port(),
        admin_port=free_port(),
        catalog_address="127.0.0.1:15051",
        webhook_address="127.0.0.1:15052",
        auth_address="127.0.0.1:15053",
        descriptor_path=ROOT / "build" / "gen" / "api.pb",
        jwt_issuer="https://issuer.test/",
        jwt_audiences=("https://api.test",),
        jwks_address="oauth.internal:8443",
    )


def _hcm(cfg: edge.EdgeConfig) -> dict[str, Any]:
    bootstrap = json.loads(edge.render_edge_config(cfg))
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def _routes(cfg: edge.EdgeConfig) -> list[dict[str, Any]]:
    return _hcm(cfg)["route_config"]["virtual_hosts"][0]["routes"]


def test_defaults_match_the_dev_sandbox() -> None:
    from sandbox.oauth import API_AUDIENCE
    from sandbox.settings import SandboxSettings

    sandbox = SandboxSettings()
    fields = edge.EdgeConfig.__dataclass_fields__
    assert fields["jwt_issuer"].default == sandbox.oauth_issuer
    assert fields["jwt_audiences"].default == (API_AUDIENCE,)
    assert fields["jwks_address"].default == f"127.0.0.1:{sandbox.port}"


def test_every_admin_route_needs_a_jwt_and_its_scope(cfg: edge.EdgeConfig) -> None:
    checked = 0
    for route in _routes(cfg):
        service = route["name"].split("/")[0]
        per_filter = route.get("typed_per_filter_config", {})
        if service not in ADMIN_SCOPES:
            assert edge.JWT_AUTHN_FILTER not in per_filter, route["name"]
            assert edge.RBAC_FILTER not in per_filter, route["name"]
            continue
        checked += 1
        assert per_filter[edge.JWT_AUTHN_FILTER]["requirement_name"] == "admin"
        (policy,) = per_filter[edge.RBAC_FILTER]["rbac"]["rules"]["policies"].values()
        assert ADMIN_SCOPES[service] in json.dumps(policy)
    assert checked >= 4  # prefix routes and the retried read routes of both admin services


def test_jwt_provider_checks_issuer_audience_and_jwks_from_config(cfg: edge.EdgeConfig) -> None:
    filters = {f["name"]: f["typed_config"] for f in _hcm(cfg)["http_filters"]}
    provider = filters[edge.JWT_AUTHN_FILTER]["providers"][edge.JWT_PROVIDER]
    assert provider["issuer"] == "https://issuer.test/"
    assert provider["audiences"] == ["https://api.test"]
    assert provider["remote_jwks"]["http_uri"]["uri"] == "http://oauth.internal:8443/.well-known/jwks.json"
    assert provider["forward"] is False  # the bearer token never reaches the services
    assert provider["claim_to_headers"] == [{"header_name": "x-auth-subject", "claim_name": "sub"}]
    clusters = {
        c["name"]: c for c in json.loads(edge.render_edge_config(cfg))["static_resources"]["clusters"]
    }
    assert clusters[edge.JWKS_CLUSTER]["type"] == "STRICT_DNS"


def test_subject_is_stripped_before_jwt_authn_and_auth_runs_after_transcoding(cfg: edge.EdgeConfig) -> None:
    names = [f["name"] for f in _hcm(cfg)["http_filters"]]
    strip = names.index("envoy.filters.http.header_mutation")
    transcoder = names.index("envoy.filters.http.grpc_json_transcoder")
    jwt_authn, rbac = names.index(edge.JWT_AUTHN_FILTER), names.index(edge.RBAC_FILTER)
    assert strip < transcoder < jwt_authn < rbac < names.index("envoy.filters.http.router")
    mutation = _hcm(cfg)["http_filters"][strip]["typed_config"]["mutations"]["request_mutations"]
    assert {"remove": "x-auth-subject"} in mutation


def test_config_with_jwt_authn_is_valid_for_envoy(cfg: edge.EdgeConfig, tmp_path: Path) -> None:
    edge.validate_edge_config(edge.write_edge_config(cfg, tmp_path / "envoy.yaml"))
