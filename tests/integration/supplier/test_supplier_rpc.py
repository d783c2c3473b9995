"""The supplier admin RPCs over real gRPC (the servicer, the error mapping, the presenters)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc

from catalog_service.settings import CatalogSettings
from catalog_service.supplier.sync import LOCK_KEY
from catalog_service.transport.servicers import SupplierServicer
from farmlokal_common.server import ServiceApp, create_server
from tests.integration.supplier.conftest import PRODUCTS


@pytest.fixture
def supplier_stub(make_sync) -> Iterator[pb_grpc.SupplierServiceStub]:
    servicer = SupplierServicer(make_sync())
    app = ServiceApp(
        service_names=[pb.DESCRIPTOR.services_by_name["SupplierService"].full_name],
        register=lambda server: pb_grpc.add_SupplierServiceServicer_to_server(servicer, server),
    )
    running = create_server("127.0.0.1:0", app, CatalogSettings())
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.SupplierServiceStub(channel)
    running.stop(0.5)


def test_sync_and_status_over_grpc(sandbox, supplier_stub) -> None:
    empty = supplier_stub.GetSupplierStatus(pb.GetSupplierStatusRequest(), timeout=5)
    assert (empty.breaker_state, empty.HasField("last_sync")) == ("closed", False)
    summary = supplier_stub.SyncSupplier(pb.SyncSupplierRequest(), timeout=60)
    assert (summary.fetched, summary.created, summary.breaker_state) == (PRODUCTS, PRODUCTS, "closed")
    again = supplier_stub.SyncSupplier(pb.SyncSupplierRequest(full=True), timeout=60)
    assert (again.fetched, again.unchanged, again.created, again.updated) == (PRODUCTS, PRODUCTS, 0, 0)
    status = supplier_stub.GetSupplierStatus(pb.GetSupplierStatusRequest(), timeout=5)
    assert status.last_sync == again and status.last_error == "" and status.last_sync_at.seconds > 0


def test_a_sync_while_another_runs_is_aborted(sandbox, supplier_stub, redis_client) -> None:
    redis_client.set(LOCK_KEY, "another-replica", px=5000)
    with pytest.raises(grpc.RpcError) as busy:
        supplier_stub.SyncSupplier(pb.SyncSupplierRequest(), timeout=5)
    assert busy.value.code() == grpc.StatusCode.ABORTED
    assert "already running" in busy.value.details()


def test_a_sync_that_fetched_nothing_is_unavailable_with_the_reason(sandbox, supplier_stub) -> None:
    """Nothing fetched because the supplier failed: an error status (503 at the edge), never a summary."""
    sandbox.fault("error", count=100, status=503)
    with pytest.raises(grpc.RpcError) as failed:
        supplier_stub.SyncSupplier(pb.SyncSupplierRequest(), timeout=60)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "nothing was fetched" in failed.value.details()
    assert "supplier_api is unavailable" in failed.value.details()
    status = supplier_stub.GetSupplierStatus(pb.GetSupplierStatusRequest(), timeout=5)
    assert status.last_sync.fetched == 0 and "supplier_api is unavailable" in status.last_error


def test_a_sync_whose_tokens_are_refused_is_unavailable_with_the_reason(sandbox, supplier_stub) -> None:
    """A credentials failure is the deployment's, not the caller's: UNAVAILABLE, not FAILED_PRECONDITION (a 400)."""
    sandbox.fault("unauthorized", count=2)
    with pytest.raises(grpc.RpcError) as failed:
        supplier_stub.SyncSupplier(pb.SyncSupplierRequest(), timeout=60)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "rejected a freshly issued access token" in failed.value.details()


def test_a_partial_sync_says_what_failed(sandbox, supplier_stub) -> None:
    sandbox.fault("latency", count=1, latency_ms=0)  # the first page is served
    sandbox.fault("error", count=100, status=503)  # then the supplier fails
    summary = supplier_stub.SyncSupplier(pb.SyncSupplierRequest(), timeout=60)
    assert (summary.fetched, summary.created) == (500, 500)
    assert "supplier_api is unavailable" in summary.error
    assert supplier_stub.GetSupplierStatus(pb.GetSupplierStatusRequest(), timeout=5).last_sync == summary
