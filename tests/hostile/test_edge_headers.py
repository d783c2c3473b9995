"""Class: a header that only gRPC may set, sent by a client, reaches the gRPC server.

The gRPC server parses grpc-timeout, grpc-encoding, grpc-status, binary (-bin) metadata and the
like itself; a bad value fails that call with INTERNAL, and a bad grpc-timeout also breaks the
server's HPACK state for the edge's pooled connection, so most other clients' calls fail after it
(field-notes). The edge drops such headers from REST requests and checks the ones native gRPC
callers may send; one client's bad header must never reach another client.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from tests.e2e.conftest import Edge

HEADERS_ONLY_GRPC_MAY_SET = [
    ("grpc-timeout", "zzz"),
    ("grpc-timeout", "1S"),
    ("grpc-encoding", "zzz"),
    ("grpc-accept-encoding", "\u00ff"),
    ("grpc-status", "zzz"),
    ("grpc-message", "%zz"),
    ("grpc-previous-rpc-attempts", "zz"),
    ("grpc-retry-pushback-ms", "zz"),
    ("grpc-internal-encoding-request", "zzz"),
    ("grpc-trace-bin", "!!"),
    ("grpc-tags-bin", "!!"),
    ("x-anything-bin", "!!not base64"),
    ("lb-token", "zz"),
    ("te", "zzz"),
]


def _hundred_native_calls_with_deadlines(edge: Edge) -> list[str]:
    """Failures among 100 native gRPC calls through the edge (a fresh channel, the edge's pooled
    upstream connection)."""
    failures = []
    with grpc.insecure_channel(edge.grpc_target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for i in range(100):
            try:
                stub.GetProduct(catalog_pb2.GetProductRequest(id=str(1 + i % 50)), timeout=5)
            except grpc.RpcError as error:
                failures.append(f"{error.code().name}: {error.details()}")
    return failures


@pytest.mark.parametrize(("name", "value"), HEADERS_ONLY_GRPC_MAY_SET)
def test_rest_request_with_a_grpc_header_affects_nobody(
    hostile_edge: Edge, client: httpx.Client, name: str, value: str
) -> None:
    response = client.get("/v1/products/1", headers={name: value.encode("latin-1")})
    assert response.status_code == 200, response.text  # the header is dropped for REST clients
    assert _hundred_native_calls_with_deadlines(hostile_edge) == []


def _curl_native_grpc(edge: Edge, tmp_path: Path, *headers: str) -> dict[str, str]:
    """A native gRPC call made byte by byte (grpc clients refuse to send bad metadata); the
    response headers and trailers it got, by name."""
    message = catalog_pb2.GetProductRequest(id="1").SerializeToString()
    body = tmp_path / "request.bin"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    argv = ["curl", "-sS", "-v", "--http2-prior-knowledge", "--max-time", "10"]
    for header in ("content-type: application/grpc", "te: trailers", *headers):
        argv += ["-H", header]
    argv += ["--data-binary", f"@{body}", f"{edge.base_url}/farmlokal.catalog.v1.CatalogService/GetProduct"]
    result = subprocess.run(argv, capture_output=True, check=True, timeout=20)
    lines = result.stderr.decode(errors="replace").splitlines()
    pairs = (line[2:].split(":", 1) for line in lines if line.startswith("< ") and ":" in line[2:])
    return {k.strip().lower(): v.strip() for k, v in pairs}


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl (with HTTP/2) is not installed")


@needs_curl
@pytest.mark.parametrize("value", ["zzz", "1.5S", "123456789S", "-1S", "5"])
def test_native_call_with_a_bad_grpc_timeout_is_invalid_argument_and_affects_nobody(
    hostile_edge: Edge, tmp_path: Path, value: str
) -> None:
    answer = _curl_native_grpc(hostile_edge, tmp_path, f"grpc-timeout: {value}")
    assert answer["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), answer
    assert "grpc-timeout" in answer["grpc-message"]
    assert _hundred_native_calls_with_deadlines(hostile_edge) == []


@needs_curl
@pytest.mark.parametrize(
    "header", ["grpc-trace-bin: !!", "x-anything-bin: !!", "grpc-previous-rpc-attempts: zz", "grpc-status: 9"]
)
def test_native_call_with_a_header_only_grpc_may_set_is_served(
    hostile_edge: Edge, tmp_path: Path, header: str
) -> None:
    answer = _curl_native_grpc(hostile_edge, tmp_path, header)
    assert answer["grpc-status"] == "0", answer
    assert _hundred_native_calls_with_deadlines(hostile_edge) == []


def test_native_call_with_a_valid_deadline_is_served(edge_channel: grpc.Channel) -> None:
    stub = catalog_pb2_grpc.CatalogServiceStub(edge_channel)
    assert stub.GetProduct(catalog_pb2.GetProductRequest(id="1"), timeout=0.8).id == 1
