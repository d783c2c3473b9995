"""The rendered bootstrap: Envoy accepts it, it names only public services, and envoy/envoy.yaml is it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from farmlokal_edge import (
    EdgeConfig,
    EdgeConfigError,
    render_edge_config,
    validate_edge_config,
    write_edge_config,
)
from farmlokal_edge.__main__ import GOLDEN, golden
from tests.edge.conftest import hcm


def test_rendered_config_is_valid(cfg: EdgeConfig, tmp_path: Path) -> None:
    validate_edge_config(write_edge_config(cfg, tmp_path / "envoy.yaml"))


def test_the_transcoder_passes_pre_rendered_answers_through(cfg: EdgeConfig) -> None:
    """Its embedded descriptor set declares the answer of each rest_json_body method (the cached listings) a
    google.api.HttpBody, and every other method's as the API does."""
    transcoder = _filter(cfg, "envoy.filters.http.grpc_json_transcoder")
    embedded = descriptor_pb2.FileDescriptorSet.FromString(
        base64.b64decode(transcoder["typed_config"]["proto_descriptor_bin"])
    )
    api = descriptor_pb2.FileDescriptorSet.FromString(cfg.descriptor_path.read_bytes())
    changed = {
        f"{file.package}.{service.name}.{method.name}": (method.output_type, ours.output_type)
        for file, our_file in zip(api.file, _by_name(embedded, api), strict=True)
        for service, our_service in zip(file.service, our_file.service, strict=True)
        for method, ours in zip(service.method, our_service.method, strict=True)
        if method.output_type != ours.output_type
    }
    assert changed == {
        "farmlokal.catalog.v1.CatalogService.ListProducts": (
            ".farmlokal.catalog.v1.ListProductsResponse",
            ".google.api.HttpBody",
        ),
        "farmlokal.catalog.v1.CatalogService.ListCategories": (
            ".farmlokal.catalog.v1.ListCategoriesResponse",
            ".google.api.HttpBody",
        ),
    }


def _by_name(
    files: descriptor_pb2.FileDescriptorSet, order: descriptor_pb2.FileDescriptorSet
) -> list[descriptor_pb2.FileDescriptorProto]:
    by_name = {file.name: file for file in files.file}
    return [by_name[file.name] for file in order.file]


def _filter(cfg: EdgeConfig, name: str) -> dict[str, Any]:
    return next(f for f in hcm(cfg)["http_filters"] if f["name"] == name)


def test_config_with_unknown_service_is_rejected(cfg: EdgeConfig, tmp_path: Path) -> None:
    text = render_edge_config(cfg).replace(
        '"farmlokal.catalog.v1.CatalogService"', '"farmlokal.catalog.v1.Nope"', 1
    )
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(EdgeConfigError, match="Nope"):
        validate_edge_config(path)


def test_internal_services_are_neither_transcoded_nor_routed(cfg: EdgeConfig) -> None:
    rendered = render_edge_config(cfg)
    for internal in (
        "ProductWriteService",
        "TokenBrokerService",
        "EventPublishService",
        "grpc.health",
        "grpc.reflection",
    ):
        assert internal not in rendered
    filters = {f["name"]: f["typed_config"] for f in hcm(cfg)["http_filters"]}
    assert set(filters["envoy.filters.http.grpc_json_transcoder"]["services"]) == {
        "farmlokal.catalog.v1.CatalogService",
        "farmlokal.catalog.v1.SupplierService",
        "farmlokal.catalog.v1.SystemHealthService",
        "farmlokal.auth.v1.TokenInfoService",
        "farmlokal.webhook.v1.WebhookService",
        "farmlokal.webhook.v1.WebhookAdminService",
    }


def test_cors_origins_and_dns_addresses_are_rendered(cfg: EdgeConfig) -> None:
    bootstrap = json.loads(render_edge_config(cfg))
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    assert clusters["catalog"]["type"] == "STATIC"
    assert clusters["auth"]["type"] == "STRICT_DNS"
    vhost = hcm(cfg)["route_config"]["virtual_hosts"][0]
    origins = vhost["typed_per_filter_config"]["envoy.filters.http.cors"]["allow_origin_string_match"]
    assert [o["exact"] for o in origins] == list(cfg.cors_allowed_origins)


def test_each_cluster_is_health_checked_on_its_first_public_service(cfg: EdgeConfig) -> None:
    clusters = {c["name"]: c for c in json.loads(render_edge_config(cfg))["static_resources"]["clusters"]}
    checked = {
        name: clusters[name]["health_checks"][0]["grpc_health_check"]["service_name"]
        for name in cfg.cluster_addresses()
    }
    assert checked == {
        "catalog": "farmlokal.catalog.v1.CatalogService",
        "webhook": "farmlokal.webhook.v1.WebhookService",
        "auth": "farmlokal.auth.v1.TokenInfoService",
    }


def test_golden_file_is_the_rendered_default_config() -> None:
    """envoy/envoy.yaml is what `python -m farmlokal_edge --golden` writes: regenerate it with
    `make edge-config` when the renderer or the protos change, and review the diff."""
    assert GOLDEN.read_text() == golden(), "envoy/envoy.yaml is stale: run `make edge-config`"


def test_golden_file_is_valid_for_envoy() -> None:
    validate_edge_config(GOLDEN)  # self-contained: the transcoder's descriptor set is embedded


def test_listen_and_admin_addresses_come_from_the_config(cfg: EdgeConfig) -> None:
    bootstrap = json.loads(render_edge_config(replace(cfg, listen_host="0.0.0.0", admin_port=1234)))
    assert bootstrap["admin"]["address"]["socket_address"]["port_value"] == 1234
    listener = bootstrap["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener == {"address": "0.0.0.0", "port_value": cfg.listen_port}


def test_internal_services_live_in_internal_protos_and_only_there() -> None:
    """The option decides what the edge routes; the file names keep the split visible to a reader."""
    from farmlokal.auth.v1 import auth_internal_pb2, auth_pb2
    from farmlokal.catalog.v1 import catalog_internal_pb2, catalog_pb2
    from farmlokal.webhook.v1 import webhook_internal_pb2, webhook_pb2

    from farmlokal_common import api_surface

    for module in (auth_pb2, catalog_pb2, webhook_pb2):
        assert all(api_surface.is_public(s) for s in api_surface.services_of(module)), module.__name__
    for module in (auth_internal_pb2, catalog_internal_pb2, webhook_internal_pb2):
        assert not any(api_surface.is_public(s) for s in api_surface.services_of(module)), module.__name__
