"""Fixtures for the edge renderer's tests (envoy/farmlokal_edge): a config, the rendered bootstrap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devstack.codegen import DESCRIPTOR
from farmlokal_edge import EdgeConfig, render_edge_config


@pytest.fixture
def cfg() -> EdgeConfig:
    return EdgeConfig(
        listen_port=18080,
        admin_port=19901,
        catalog_address="127.0.0.1:15051",
        webhook_address="127.0.0.1:15052",
        auth_address="localhost:15053",
        descriptor_path=DESCRIPTOR,
        cors_allowed_origins=("http://localhost:3000", "https://shop.farmlokal.test"),
        jwt_issuer="https://issuer.test/",
        jwt_audiences=("https://api.test",),
        jwks_uri="http://oauth.internal:8443/.well-known/jwks.json",
    )


def hcm(cfg: EdgeConfig) -> dict[str, Any]:
    """The public listener's HTTP connection manager of the rendered bootstrap."""
    bootstrap = json.loads(render_edge_config(cfg))
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def routes(cfg: EdgeConfig) -> list[dict[str, Any]]:
    return hcm(cfg)["route_config"]["virtual_hosts"][0]["routes"]


def method_routes(cfg: EdgeConfig) -> dict[str, dict[str, Any]]:
    """Route name (service/method) -> route, for the public methods' routes."""
    return {r["name"]: r for r in routes(cfg) if "route" in r and r["route"]["cluster"] != "rest_sink"}


ROOT = Path(__file__).resolve().parents[2]
