"""A pre-rendered REST answer (farmlokal_common/rest_json.py) is byte for byte what Envoy's transcoder
prints for the same message, so REST clients cannot tell which of the two made it.

Two real Envoys in front of one gRPC server: the edge as rendered (ListProducts' answer declared a
google.api.HttpBody, so the server's pre-rendered JSON passes through) and the same edge with the
API's own descriptor set (the transcoder prints the typed message itself). The products carry what
a JSON printer can get wrong: quotes, backslashes, control characters, HTML characters, non-ASCII,
U+2028, fields at their default value, 64-bit ids and timestamps with fractions.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from catalog_service.transport.prebuilt import Prebuilt, PrebuiltResponseInterceptor
from devstack.codegen import DESCRIPTOR
from devstack.envoy_process import start_envoy
from devstack.processes import ManagedProcess, free_port
from farmlokal_common import rest_json
from farmlokal_edge import EdgeConfig, render_edge_config

TRICKY = [
    'quote " backslash \\ slash / tab \t newline \n return \r',
    "controls \x00 \x01 \x08 \x0c \x1f \x7f and <b>HTML</b> & 'apostrophes'",
    "non-ASCII: Alphonso Aam आम, café, 芒果, emoji 🥭, separators \u2028 \u2029, BOM \ufeff",
    "invisible: soft\xadhyphen, C1 \x85 \x9f, zero\u200bwidth, \u0600 \u06dd \ufffa \u2064 \u206f",
    "beyond the BMP: \U0001d173 music, \U000e0001 \U000e0041 tags, \U0001f600",
    "",
]


def _page() -> pb.ListProductsResponse:
    created = dt.datetime(2025, 6, 1, 12, 30, 15, tzinfo=dt.UTC)
    products = []
    for index, text in enumerate(TRICKY):
        product = pb.Product(
            id=2**53 + index,  # beyond a double's integers: only a string keeps it
            name=text,
            description=text[::-1],
            category="Fruits" if index else "",
            price="0.00" if index == 3 else f"{index * 111}.50",
            stock=0 if index % 2 else 17,
        )
        product.created_at.FromDatetime(created + dt.timedelta(microseconds=index * 1500))
        if index != 2:  # an unset message field is left out by both
            product.updated_at.FromDatetime(created + dt.timedelta(seconds=index, microseconds=index))
        products.append(product)
    return pb.ListProductsResponse(products=products, next_cursor="", has_more=False)


@dataclass
class Upstream:
    port: int
    rest_json_calls: list[bool] = field(default_factory=list)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    page = _page()
    seen = Upstream(port=0)

    class Catalog(pb_grpc.CatalogServiceServicer):
        def ListProducts(self, request: object, context: grpc.ServicerContext) -> Prebuilt:
            wants = rest_json.wants_json_body(context.invocation_metadata())
            seen.rest_json_calls.append(wants)
            return Prebuilt(rest_json.http_body(page) if wants else page.SerializeToString())

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[PrebuiltResponseInterceptor()]
    )
    pb_grpc.add_CatalogServiceServicer_to_server(Catalog(), server)
    checks = health.HealthServicer()
    checks.set("farmlokal.catalog.v1.CatalogService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    seen.port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield seen
    finally:
        server.stop(0).wait()


def _edge(upstream: Upstream, tmp_path: Path, name: str, own_printing: bool) -> ManagedProcess:
    address = f"127.0.0.1:{upstream.port}"
    cfg = EdgeConfig(
        listen_port=free_port(),
        admin_port=free_port(),
        catalog_address=address,
        webhook_address=address,
        auth_address=address,
        descriptor_path=DESCRIPTOR,
    )
    bootstrap = json.loads(render_edge_config(cfg))
    if own_printing:
        manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        transcoder = next(
            f
            for f in manager["typed_config"]["http_filters"]
            if f["name"] == "envoy.filters.http.grpc_json_transcoder"
        )
        transcoder["typed_config"]["proto_descriptor_bin"] = base64.b64encode(
            DESCRIPTOR.read_bytes()
        ).decode()
        for route in manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]:
            route.pop("request_headers_to_add", None)  # the pre-rendered answer's request
    path = tmp_path / name / "envoy.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(bootstrap))
    return start_envoy(path, cfg.admin_port, cfg.listen_port, tmp_path / name / "envoy.log")


@pytest.fixture(scope="module")
def answers(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> dict[str, httpx.Response]:
    tmp_path = tmp_path_factory.mktemp("rest-json")
    got = {}
    for name, own_printing in (("pre-rendered", False), ("transcoded", True)):
        envoy = _edge(upstream, tmp_path, name, own_printing)
        try:
            url = f"http://127.0.0.1:{envoy.port}/v1/products?limit=20"
            got[name] = httpx.get(url, timeout=10, trust_env=False)
        finally:
            envoy.stop()
    return got


def test_the_rendered_edge_asks_for_the_pre_rendered_answer(upstream: Upstream, answers: dict) -> None:
    assert upstream.rest_json_calls == [True, False]  # the rendered edge, then the typed one


def test_the_pre_rendered_answer_is_what_envoy_prints(answers: dict[str, httpx.Response]) -> None:
    ours, envoys = answers["pre-rendered"], answers["transcoded"]
    assert ours.status_code == envoys.status_code == 200, (ours.text, envoys.text)
    assert ours.content == envoys.content
    assert ours.headers["content-type"] == envoys.headers["content-type"] == "application/json"
    names = [product["name"] for product in ours.json()["products"]]
    assert names == TRICKY


def test_a_client_cannot_ask_a_grpc_route_for_json(upstream: Upstream, tmp_path: Path) -> None:
    """The header is the edge's: a native gRPC call that sends it gets the typed message."""
    envoy = _edge(upstream, tmp_path, "grpc", own_printing=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
            answer = pb_grpc.CatalogServiceStub(channel).ListProducts(
                pb.ListProductsRequest(), metadata=[(rest_json.REST_JSON_HEADER, "1")], timeout=10
            )
    finally:
        envoy.stop()
    assert list(answer.products) == list(_page().products)
    assert upstream.rest_json_calls[-1] is False
