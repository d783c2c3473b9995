"""Admin routes: which need a JWT and which scope (declared in the protos), the JWT provider, filter order."""

from __future__ import annotations

import json

from farmlokal_edge import EdgeConfig, render_edge_config
from farmlokal_edge.names import JWKS_CLUSTER, JWT_AUTHN_FILTER, JWT_PROVIDER, RBAC_FILTER
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
    assert fields["jwks_address"].default == f"127.0.0.1:{sandbox.port}"
