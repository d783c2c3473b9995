"""The /docs routes in the rendered edge config: Envoy accepts them (with the real 1.7 MB bundle), each
file has its route and content type, and an edge without the assets says how to build them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devstack.codegen import DESCRIPTOR
from farmlokal_edge import EdgeConfig, render_edge_config, validate_edge_config, write_edge_config
from farmlokal_edge.docs import DOCS_FILES, MAX_DOCS_FILE_BYTES, NOT_BUILT, missing_files

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi" / "farmlokal.swagger.json"


@pytest.fixture
def cfg() -> EdgeConfig:
    return EdgeConfig(
        listen_port=18080,
        admin_port=19901,
        catalog_address="127.0.0.1:15051",
        webhook_address="127.0.0.1:15052",
        auth_address="127.0.0.1:15053",
        descriptor_path=DESCRIPTOR,
    )


def connection_manager(cfg: EdgeConfig) -> dict[str, Any]:
    bootstrap = json.loads(render_edge_config(cfg))
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def docs_routes(cfg: EdgeConfig) -> list[dict[str, Any]]:
    routes = connection_manager(cfg)["route_config"]["virtual_hosts"][0]["routes"]
    return [route for route in routes if route["name"].startswith("docs")]


def test_config_with_the_built_assets_is_valid(cfg: EdgeConfig, docs_dir: Path, tmp_path: Path) -> None:
    assert missing_files(docs_dir) == []
    assert max((docs_dir / name).stat().st_size for name, _, _ in DOCS_FILES.values()) < MAX_DOCS_FILE_BYTES
    validate_edge_config(write_edge_config(replace(cfg, docs_dir=docs_dir), tmp_path / "envoy.yaml"))


def test_every_file_has_a_read_only_route_before_the_rest_routes(cfg: EdgeConfig, docs_dir: Path) -> None:
    rendered = replace(cfg, docs_dir=docs_dir)
    all_routes = connection_manager(rendered)["route_config"]["virtual_hosts"][0]["routes"]
    routes = docs_routes(rendered)
    assert all_routes[: len(routes)] == routes, "the /docs routes come first"
    served = {route["match"]["path"]: route for route in routes if "path" in route["match"]}
    assert set(served) == set(DOCS_FILES)
    for path, (name, _, _) in DOCS_FILES.items():
        route = served[path]
        assert route["direct_response"]["body"]["filename"] == str((docs_dir / name).resolve())
        assert route["match"]["headers"][0]["string_match"]["safe_regex"]["regex"] == "GET|HEAD"
        disabled = {f for f, c in route["typed_per_filter_config"].items() if c.get("disabled")}
        assert "envoy.filters.http.grpc_json_transcoder" in disabled
    assert routes[-1]["name"] == "docs_not_found"


def test_content_types_come_from_local_reply_mappers(cfg: EdgeConfig, docs_dir: Path) -> None:
    """A direct response is a local reply: without these mappers the edge's JSON error format wraps it."""
    mappers = connection_manager(replace(cfg, docs_dir=docs_dir))["local_reply_config"]["mappers"]
    verbatim = [
        m
        for m in mappers
        if "text_format_source" in m.get("body_format_override", {})
        and "content_type" in m["body_format_override"]
    ]
    types = {m["body_format_override"]["content_type"] for m in verbatim}
    assert types == {content_type for _, content_type, _ in DOCS_FILES.values()}
    assert mappers[: len(verbatim)] == verbatim, "they must match before the JSON mappers"


def test_without_assets_docs_answers_how_to_build_them(cfg: EdgeConfig, tmp_path: Path) -> None:
    for docs_dir in (None, tmp_path / "empty"):
        routes = docs_routes(replace(cfg, docs_dir=docs_dir))
        assert [r["name"] for r in routes] == ["docs_not_built"]
        assert routes[0]["direct_response"] == {"status": 503, "body": {"inline_string": NOT_BUILT}}
        assert "make docs-assets" in NOT_BUILT
    validate_edge_config(write_edge_config(replace(cfg, docs_dir=tmp_path / "empty"), tmp_path / "e.yaml"))


def test_the_spec_is_relative_so_try_it_out_calls_the_page_origin() -> None:
    spec = json.loads(SPEC.read_text())
    assert "host" not in spec and "schemes" not in spec and spec.get("basePath", "/") == "/"
    assert "/v1/products" in spec["paths"]
