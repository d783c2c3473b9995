"""A new public RPC needs an edit in the proto and the service only: declared public in its proto, the
edge transcodes and routes it, and an internal service beside it stays unreachable.

The test compiles the project's protos plus a new file into a descriptor set, renders the edge from
it and sends a REST request through a real Envoy to a gRPC server that implements the new method.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_tools import protoc

from devstack import codegen
from devstack.envoy_process import start_envoy
from devstack.processes import free_port
from farmlokal_edge import EdgeConfig, write_edge_config

NEW_PROTO = """
syntax = "proto3";
package farmlokal.catalog.v1;
import "farmlokal/api/v1/edge.proto";
import "google/api/annotations.proto";

service GreetingService {
  option (farmlokal.api.v1.public) = true;
  rpc Greet(GreetRequest) returns (GreetReply) {
    option idempotency_level = NO_SIDE_EFFECTS;
    option (google.api.http) = {get: "/v1/greetings/{name}"};
  }
}

service GreetingInternalService {
  rpc Forget(GreetRequest) returns (GreetReply) {
    option (google.api.http) = {get: "/v1/internal-greetings/{name}"};
  }
}

message GreetRequest { string name = 1; }
message GreetReply { string greeting = 1; }
"""


def _descriptor_with_new_proto(tmp_path: Path) -> Path:
    extra = tmp_path / "protos"
    (extra / "farmlokal" / "catalog" / "v1").mkdir(parents=True)
    (extra / "farmlokal" / "catalog" / "v1" / "greeting.proto").write_text(NEW_PROTO)
    out = tmp_path / "api.pb"
    includes = [
        f"-I{codegen.PROTO_DIR}",
        f"-I{extra}",
        f"-I{codegen._google_proto_root()}",
        f"-I{codegen._grpc_tools_include()}",
    ]
    files = [*codegen.proto_files(), "farmlokal/catalog/v1/greeting.proto", *codegen.EXTRA_DESCRIPTOR_PROTOS]
    args = ["protoc", *includes, "--include_imports", f"--descriptor_set_out={out}", *files]
    assert protoc.main(args) == 0
    return out


def _greeting_types(descriptor: Path) -> tuple[type, type]:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    request = message_factory.GetMessageClass(pool.FindMessageTypeByName("farmlokal.catalog.v1.GreetRequest"))
    reply = message_factory.GetMessageClass(pool.FindMessageTypeByName("farmlokal.catalog.v1.GreetReply"))
    return request, reply


@pytest.fixture
def greeting_edge(tmp_path: Path) -> Iterator[str]:
    descriptor = _descriptor_with_new_proto(tmp_path)
    request_type, reply_type = _greeting_types(descriptor)

    def greet(request: object, context: grpc.ServicerContext) -> object:
        return reply_type(greeting=f"hello {request.name}")  # type: ignore[attr-defined]

    handlers = {
        "Greet": grpc.unary_unary_rpc_method_handler(
            greet,
            request_deserializer=request_type.FromString,
            response_serializer=reply_type.SerializeToString,
        )
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("farmlokal.catalog.v1.GreetingService", handlers)]
    )
    checks = health.HealthServicer()
    checks.set("farmlokal.catalog.v1.CatalogService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    cfg = EdgeConfig(
        listen_port=free_port(),
        admin_port=free_port(),
        catalog_address=f"127.0.0.1:{port}",
        webhook_address=f"127.0.0.1:{port}",
        auth_address=f"127.0.0.1:{port}",
        descriptor_path=descriptor,
    )
    path = write_edge_config(cfg, tmp_path / "envoy.yaml")
    envoy = start_envoy(path, cfg.admin_port, cfg.listen_port, tmp_path / "envoy.log")
    try:
        yield f"http://127.0.0.1:{cfg.listen_port}"
    finally:
        envoy.stop()
        server.stop(0).wait()


def test_new_public_rpc_is_transcoded_and_routed(greeting_edge: str) -> None:
    response = httpx.get(f"{greeting_edge}/v1/greetings/ada", timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    assert response.json() == {"greeting": "hello ada"}


def test_new_internal_service_beside_it_is_not_routed(greeting_edge: str, tmp_path: Path) -> None:
    response = httpx.get(f"{greeting_edge}/v1/internal-greetings/ada", timeout=10, trust_env=False)
    assert response.status_code == 404
    config = json.loads((tmp_path / "envoy.yaml").read_text())
    assert "GreetingInternalService" not in json.dumps(config)
