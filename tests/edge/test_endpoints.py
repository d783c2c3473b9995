"""A service's cluster lists every replica given for it (hosts of their own), with outlier detection."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from farmlokal_edge import EdgeConfig, render_edge_config, validate_edge_config, write_edge_config


def clusters(cfg: EdgeConfig) -> dict[str, dict[str, Any]]:
    bootstrap = json.loads(render_edge_config(cfg))
    return {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}


def endpoints(cluster: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (
            e["endpoint"]["address"]["socket_address"]["address"],
            e["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in cluster["load_assignment"]["endpoints"]
        for e in group["lb_endpoints"]
    ]


def test_one_endpoint_per_replica_address(cfg: EdgeConfig, tmp_path: Path) -> None:
    several = replace(
        cfg,
        catalog_address=("10.0.0.2:15051", "10.0.0.3:15051"),
        webhook_address=("10.0.0.2:15052", "webhook.internal:15052"),
    )
    rendered = clusters(several)
    assert endpoints(rendered["catalog"]) == [("10.0.0.2", 15051), ("10.0.0.3", 15051)]
    assert rendered["catalog"]["type"] == "STATIC"
    assert endpoints(rendered["webhook"]) == [("10.0.0.2", 15052), ("webhook.internal", 15052)]
    assert rendered["webhook"]["type"] == "STRICT_DNS"  # one name makes the cluster resolve them all
    assert endpoints(rendered["auth"]) == [("localhost", 15053)]  # one address is one endpoint, as before
    validate_edge_config(write_edge_config(several, tmp_path / "envoy.yaml"))


def test_service_clusters_eject_unreachable_replicas_only(cfg: EdgeConfig) -> None:
    for name in cfg.cluster_addresses():
        detection = clusters(cfg)[name]["outlier_detection"]
        assert detection["split_external_local_origin_errors"] is True
        assert detection["consecutive_local_origin_failure"] == 2
        # Answers the service chose (a 503 while its database is down) never eject a replica.
        assert detection["enforcing_consecutive_5xx"] == 0
        assert detection["enforcing_consecutive_gateway_failure"] == 0
        assert detection["max_ejection_percent"] == 50


def test_dead_connections_are_found_by_pings_and_idle_ones_closed_first(cfg: EdgeConfig) -> None:
    """HTTP/2 PINGs find a vanished host within 2 s; a connection without traffic is closed by the
    edge after 2 s, before a grpc server would count a third PING without data as abuse (GOAWAY)."""
    for name in cfg.cluster_addresses():
        options = clusters(cfg)[name]["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ]
        keepalive = options["explicit_http_config"]["http2_protocol_options"]["connection_keepalive"]
        assert keepalive == {"interval": "1s", "timeout": "1s"}
        assert options["common_http_protocol_options"]["idle_timeout"] == "2s"
