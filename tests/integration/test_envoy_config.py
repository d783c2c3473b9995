"""The rendered edge configuration passes `envoy --mode validate`, and a broken one does not."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from devstack import edge
from devstack.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"


@pytest.fixture
def cfg() -> edge.EdgeConfig:
    return edge.EdgeConfig(
        listen_port=free_port(),
        admin_port=free_port(),
        catalog_address=f"127.0.0.1:{free_port()}",
        webhook_address=f"127.0.0.1:{free_port()}",
        auth_address=f"localhost:{free_port()}",
        descriptor_path=DESCRIPTOR,
        cors_allowed_origins=("http://localhost:3000", "https://shop.farmlokal.test"),
    )


def test_rendered_config_is_valid(cfg: edge.EdgeConfig, tmp_path: Path) -> None:
    edge.validate_edge_config(edge.write_edge_config(cfg, tmp_path / "envoy.yaml"))


def test_config_with_unknown_service_is_rejected(
    cfg: edge.EdgeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = edge.PublicService("farmlokal.catalog.v1.NoSuchService", "catalog")
    monkeypatch.setattr(edge, "PUBLIC_SERVICES", (*edge.PUBLIC_SERVICES, bogus))
    path = edge.write_edge_config(cfg, tmp_path / "envoy.yaml")
    with pytest.raises(edge.EdgeConfigError, match="NoSuchService"):
        edge.validate_edge_config(path)


def test_config_with_missing_descriptor_is_rejected(cfg: edge.EdgeConfig, tmp_path: Path) -> None:
    path = edge.write_edge_config(replace(cfg, descriptor_path=tmp_path / "missing.pb"), tmp_path / "e.yaml")
    with pytest.raises(edge.EdgeConfigError):
        edge.validate_edge_config(path)


def test_internal_services_are_neither_transcoded_nor_routed(cfg: edge.EdgeConfig) -> None:
    rendered = edge.render_edge_config(cfg)
    for internal in (
        "ProductWriteService",
        "TokenBrokerService",
        "EventPublishService",
        "grpc.health",
        "grpc.reflection",
    ):
        assert internal not in rendered


def test_cors_origins_and_dns_addresses_are_rendered(cfg: edge.EdgeConfig) -> None:
    bootstrap = json.loads(edge.render_edge_config(cfg))
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    assert clusters["catalog"]["type"] == "STATIC"
    assert clusters["auth"]["type"] == "STRICT_DNS"
    vhost = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"
    ]["virtual_hosts"][0]
    origins = vhost["typed_per_filter_config"]["envoy.filters.http.cors"]["allow_origin_string_match"]
    assert [o["exact"] for o in origins] == list(cfg.cors_allowed_origins)


def test_post_routes_are_not_retried(cfg: edge.EdgeConfig) -> None:
    bootstrap = json.loads(edge.render_edge_config(cfg))
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    retried = {
        r["name"]
        for r in hcm["route_config"]["virtual_hosts"][0]["routes"]
        if "retry_policy" in r.get("route", {})
    }
    for write in (
        "farmlokal.webhook.v1.WebhookService",
        "farmlokal.catalog.v1.SupplierService/SyncSupplier",
        "farmlokal.webhook.v1.WebhookAdminService",
    ):
        assert write not in retried
    assert "farmlokal.catalog.v1.CatalogService/GetProduct" in retried
