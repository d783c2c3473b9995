"""The edge gives every call a deadline the service sees (grpc-timeout), capped by the route, and
retries a read only when it cannot have been served."""

from __future__ import annotations

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from farmlokal_edge.config import READ_TIMEOUT_S

READ = READ_TIMEOUT_S


@pytest.fixture
def http(stub_edge) -> httpx.Client:
    with stub_edge.client() as client:
        yield client


def _deadline(response: httpx.Response) -> float:
    assert response.status_code == 200, response.text
    return float(response.json()["next_cursor"])


def test_rest_call_gets_its_route_timeout_as_deadline(http: httpx.Client) -> None:
    assert READ - 0.5 < _deadline(http.get("/v1/products")) <= READ


@pytest.mark.parametrize("sent", ["1S", "100m", "zzz", "99999999H"])
def test_rest_client_cannot_choose_the_deadline(http: httpx.Client, sent: str) -> None:
    assert READ - 0.5 < _deadline(http.get("/v1/products", headers={"grpc-timeout": sent})) <= READ


@pytest.fixture
def stub(stub_edge):
    channel = grpc.insecure_channel(stub_edge.grpc_target)
    yield catalog_pb2_grpc.CatalogServiceStub(channel)
    channel.close()


def test_native_deadline_shorter_than_the_route_is_kept(stub) -> None:
    answer = stub.ListProducts(catalog_pb2.ListProductsRequest(), timeout=1.0)
    # gRPC core rounds the grpc-timeout it sends up to a coarser unit (it compresses better), so the
    # service may see a little over the 1 s the client asked for; far under the route's READ either way.
    assert 0.5 < float(answer.next_cursor) <= 1.1 < READ


@pytest.mark.parametrize("timeout", [None, 60.0])
def test_native_deadline_is_capped_or_set_to_the_route_timeout(stub, timeout: float | None) -> None:
    answer = stub.ListProducts(catalog_pb2.ListProductsRequest(), timeout=timeout)
    assert READ - 0.5 < float(answer.next_cursor) <= READ


def test_a_read_the_service_answered_is_not_retried(http: httpx.Client, stub_edge) -> None:
    """UNAVAILABLE chosen by the service (a statement that took too long) reaches the service once."""
    before = stub_edge.backend.calls.methods.count("CatalogService/GetProduct")
    response = http.get("/v1/products/503")
    assert response.status_code == 503
    assert stub_edge.backend.calls.methods.count("CatalogService/GetProduct") == before + 1
