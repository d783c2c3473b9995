"""One source for the edge: `make up`'s config (devstack.stack.edge_config), compose's
(`python -m farmlokal_edge --out`) and the chart's ConfigMap (deploy/helm/edge_config.py + helm template)
have the same routes, filters and clusters but for addresses, and a new public method shows up in all
three from an edit of the protos alone. Envoy accepts the chart's config, for an http and an https JWKS.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deploy.helm import edge_config as chart_edge
from devstack import codegen
from devstack.stack import StackConfig, edge_config, service_plans
from farmlokal_edge import __main__ as compose_cli
from farmlokal_edge import render_edge_config, validate_edge_config
from tests.edge.test_new_public_rpc import _descriptor_with_new_proto
from tests.k8s.conftest import CHART, PRODUCTION, helm_template, of_kind

NEW_ROUTES = {
    "farmlokal.catalog.v1.GreetingService/Greet",
    "farmlokal.catalog.v1.GreetingService/Greet (REST)",
}
DEPLOYMENT_SPECIFIC = (
    "docs",
)  # make up serves the API reference from build/docs; the others say it is not built


def make_up_config(descriptor: Path) -> dict[str, Any]:
    cfg = StackConfig.from_env({})
    return json.loads(
        render_edge_config(replace(edge_config(cfg, service_plans(cfg, {}), {}), descriptor_path=descriptor))
    )


def compose_config(descriptor: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(compose_cli, "DESCRIPTOR", descriptor)
    assert compose_cli.main(["--out", str(out)]) == 0
    return json.loads((out / "envoy.yaml").read_text())


def chart_config(descriptor: Path, workdir: Path, values: tuple[Path, ...] = ()) -> dict[str, Any]:
    chart = workdir / "farmlokal"
    shutil.copytree(CHART, chart)
    assert chart_edge.main(["--chart", str(chart), "--descriptor", str(descriptor)]) == 0
    (config_map,) = of_kind(helm_template(values, chart=chart), "ConfigMap").values()
    return json.loads(config_map["data"]["envoy.yaml"])


def connection_manager(bootstrap: dict[str, Any]) -> dict[str, Any]:
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[no-any-return]


def route_names(bootstrap: dict[str, Any]) -> set[str]:
    return {r["name"] for r in connection_manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"]}


def without_addresses(bootstrap: dict[str, Any]) -> dict[str, Any]:
    """The config less what a deployment decides: where things are, whose tokens, which origins."""
    shape = copy.deepcopy(bootstrap)
    shape.pop("admin")
    listener = shape["static_resources"]["listeners"][0]
    listener.pop("address")
    manager = connection_manager(shape)
    vhost = manager["route_config"]["virtual_hosts"][0]
    vhost["routes"] = [r for r in vhost["routes"] if not r["name"].startswith(DEPLOYMENT_SPECIFIC)]
    vhost["typed_per_filter_config"]["envoy.filters.http.cors"].pop("allow_origin_string_match")
    manager.pop("local_reply_config", None)  # carries the /docs answers
    manager["route_config"].pop("max_direct_response_body_size_bytes", None)  # the /docs files
    for http_filter in manager["http_filters"]:
        config = http_filter.get("typed_config", {})
        for provider in config.get("providers", {}).values():
            for field in ("issuer", "audiences", "remote_jwks"):
                provider.pop(field)
    for cluster in shape["static_resources"]["clusters"]:
        for field in ("type", "load_assignment", "dns_lookup_family"):  # an IP or a name, where
            cluster.pop(field, None)
    return shape


def test_make_up_compose_and_the_chart_render_the_same_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptor = codegen.DESCRIPTOR
    up = make_up_config(descriptor)
    compose = compose_config(descriptor, tmp_path / "compose", monkeypatch)
    chart = chart_config(descriptor, tmp_path / "chart")
    assert without_addresses(compose) == without_addresses(up)
    assert without_addresses(chart) == without_addresses(up)
    assert route_names(chart) - {
        n for n in route_names(chart) if n.startswith(DEPLOYMENT_SPECIFIC)
    } == route_names(compose) - {n for n in route_names(compose) if n.startswith(DEPLOYMENT_SPECIFIC)}


def test_a_new_public_method_reaches_all_three_from_the_protos_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptor = _descriptor_with_new_proto(tmp_path)
    before = chart_config(codegen.DESCRIPTOR, tmp_path / "before")
    assert not NEW_ROUTES & route_names(before)
    configs = {
        "make up": make_up_config(descriptor),
        "compose": compose_config(descriptor, tmp_path / "compose", monkeypatch),
        "chart": chart_config(descriptor, tmp_path / "after"),
    }
    for where, bootstrap in configs.items():
        assert route_names(bootstrap) >= NEW_ROUTES, where
        assert not any("GreetingInternalService" in name for name in route_names(bootstrap)), where
        transcoder = next(
            f["typed_config"]
            for f in connection_manager(bootstrap)["http_filters"]
            if "transcoder" in f["name"]
        )
        assert "farmlokal.catalog.v1.GreetingService" in transcoder["services"], where
    assert without_addresses(configs["chart"]) == without_addresses(configs["make up"])
    assert without_addresses(configs["compose"]) == without_addresses(configs["make up"])


def test_the_chart_files_are_what_the_renderer_makes_now() -> None:
    assert chart_edge.main(["--check"]) == 0, "run `make k8s-edge-config`"


@pytest.mark.parametrize("values", ["default", "production"])
def test_envoy_accepts_the_charts_config(values: str, tmp_path: Path) -> None:
    (config_map,) = of_kind(
        helm_template([PRODUCTION] if values == "production" else []), "ConfigMap"
    ).values()
    text = config_map["data"]["envoy.yaml"]
    assert "slot-" not in text  # every slot was filled
    path = tmp_path / "envoy.yaml"
    path.write_text(text)  # self-contained: the transcoder's descriptor set is embedded
    validate_edge_config(path)
    bootstrap = json.loads(text)
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    address = clusters["catalog"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {
        "address": "farmlokal-catalog.shop.svc.cluster.local",
        "port_value": 15051,
    }
    assert clusters["catalog"]["type"] == "STRICT_DNS"
    jwks = clusters["oauth_jwks"]
    if values == "production":
        assert jwks["transport_socket"]["typed_config"]["sni"] == "login.example.com"
        jwks_address = jwks["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert jwks_address["socket_address"] == {"address": "login.example.com", "port_value": 443}
        assert '"uri": "https://login.example.com:443/.well-known/jwks.json"' in text
        assert '"issuer": "https://login.example.com/"' in text
        assert '"exact": "https://shop.farmlokal.example"' in text
