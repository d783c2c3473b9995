"""Deadlines reach the database: no statement outlives the request that started it.

The test makes the catalog's statements slow from its own side: it holds `LOCK TABLES products WRITE`
on its own connection, so the service's SELECT waits for the lock (max_statement_time interrupts that
wait). Then: the client gets a clear 503 within its deadline, the statement is gone from the server
within 1 s after, the edge sent the request to the service once, and an internal call the catalog
makes (to the auth service's token broker) carries what is left of the deadline.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from farmlokal.auth.v1 import auth_internal_pb2 as apb
from farmlokal.auth.v1 import auth_internal_pb2_grpc as apb_grpc
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from sqlalchemy import Engine, create_engine, text

from devstack import processes
from farmlokal_common.dependency_errors import DATABASE_BUSY, QUERY_TOO_SLOW
from tests.faults.conftest import CatalogInstance, FaultStack
from tests.faults.test_mysql_outage import INTERNALS, uncached_params

GET_PRODUCT = "/farmlokal.catalog.v1.CatalogService/GetProduct"
LIST_PRODUCTS = "/farmlokal.catalog.v1.CatalogService/ListProducts"
TOO_SLOW = "took too long"


@pytest.fixture
def root(stack: FaultStack) -> Iterator[Engine]:
    engine = create_engine(stack.mariadb.root_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@contextlib.contextmanager
def products_locked(root: Engine) -> Iterator[None]:
    """The test's own connection holds a write lock on products: every statement on it waits."""
    with root.connect() as conn:
        conn.execute(text("LOCK TABLES catalog.products WRITE"))
        try:
            yield
        finally:
            conn.execute(text("UNLOCK TABLES"))


def catalog_statements(root: Engine) -> list[str]:
    with root.connect() as conn:
        rows = conn.execute(text("SHOW FULL PROCESSLIST")).fetchall()
    return [r.Info for r in rows if r.User == "catalog_svc" and r.Info and "products" in r.Info]


def seconds_until_gone(root: Engine, within: float) -> float:
    started = time.monotonic()
    while catalog_statements(root):
        elapsed = time.monotonic() - started
        assert elapsed < within, f"statements still running {elapsed:.1f} s later: {catalog_statements(root)}"
        time.sleep(0.05)
    return time.monotonic() - started


def rpc_count(instance: CatalogInstance, method: str, code: str | None = None) -> float:
    """Calls the service saw (farmlokal_rpc_duration_seconds_count), of one code or of all."""
    # prometheus_client writes labels sorted by name: code, then method.
    pattern = (
        rf'farmlokal_rpc_duration_seconds_count\{{code="(\w+)",method="{re.escape(method)}"\}} ([0-9.e+]+)'
    )
    counts = {c: float(n) for c, n in re.findall(pattern, instance.metrics())}
    return counts.get(code, 0.0) if code else sum(counts.values())


def statement_timeouts(instance: CatalogInstance, method: str) -> float:
    pattern = rf'farmlokal_db_statement_timeouts_total\{{method="{re.escape(method)}"\}} ([0-9.e+]+)'
    found = re.findall(pattern, instance.metrics())
    return float(found[0]) if found else 0.0


@pytest.mark.parametrize(("deadline", "answered_within"), [(2.0, 2.0), (1.0, 1.0)])
def test_a_slow_statement_is_a_503_within_the_deadline_and_gone_right_after(
    stack: FaultStack, root: Engine, deadline: float, answered_within: float
) -> None:
    """A native gRPC client's deadline through the edge: the statement gets what is left of it (less
    a margin, at most the 1.5 s read ceiling), so the answer is a 503 before the client gives up."""
    channel = grpc.insecure_channel(f"127.0.0.1:{stack.edge.listen_port}")
    stub = pb_grpc.CatalogServiceStub(channel)
    try:
        assert stub.GetProduct(pb.GetProductRequest(id="1"), timeout=5).id == 1
        with products_locked(root):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetProduct(pb.GetProductRequest(id="1"), timeout=deadline)
            answered = time.monotonic() - started
            gone = seconds_until_gone(root, within=1.0)
        print(f"\ndeadline {deadline} s: 503 after {answered:.2f} s, statement gone {gone:.2f} s later")
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value
    assert TOO_SLOW in raised.value.details()
    assert not any(word in raised.value.details() for word in INTERNALS)
    assert answered < answered_within


def test_the_edge_sends_a_request_whose_statement_timed_out_to_the_service_once(
    stack: FaultStack, root: Engine
) -> None:
    """REST reads get the route's 3 s; a statement stopped by its limit is a 503 the edge must not
    retry (it retries only requests that never reached a service)."""
    edge = stack.edge
    with edge.client(timeout=10) as http:
        assert http.get("/v1/products/1").status_code == 200
        params = uncached_params()
        before = {m: (rpc_count(edge, m), statement_timeouts(edge, m)) for m in (GET_PRODUCT, LIST_PRODUCTS)}
        with products_locked(root):
            for path, query in (("/v1/products/1", None), ("/v1/products", params)):
                started = time.monotonic()
                response = http.get(path, params=query)
                elapsed = time.monotonic() - started
                print(f"\n{path}: {response.status_code} after {elapsed:.2f} s")
                assert response.status_code == 503, response.text
                assert TOO_SLOW in response.json()["message"]
                assert elapsed < 3.0  # the service's answer, before the edge's route timeout
            seconds_until_gone(root, within=1.0)
    for method in (GET_PRODUCT, LIST_PRODUCTS):
        calls, stopped = before[method]
        assert rpc_count(edge, method) == calls + 1, f"{method} reached the service more than once"
        assert rpc_count(edge, method, "UNAVAILABLE") >= 1
        assert statement_timeouts(edge, method) == stopped + 1


def test_concurrent_slow_statements_leave_nothing_running_after_their_answers(
    stack: FaultStack, root: Engine
) -> None:
    """Five listings at once whose statements cannot finish: five 503s, and none of the five
    statements is still on the server 1 s after the last answer (issue 20: ten statements ran on
    for 33 to 113 s after their clients got a 504)."""
    with stack.edge.client(timeout=10) as http, products_locked(root):
        with futures.ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: http.get("/v1/products", params=uncached_params()), range(5)))
        gone = seconds_until_gone(root, within=1.0)
    print(f"\n5 concurrent: {[a.status_code for a in answers]}, statements gone {gone:.2f} s after")
    assert [a.status_code for a in answers] == [503] * 5
    # Those past the bulkhead (half the catalog's 8 threads) waited for their statement's limit;
    # the others were turned away at once, without a statement.
    messages = [a.json()["message"] for a in answers]
    assert all(m in (QUERY_TOO_SLOW, DATABASE_BUSY) for m in messages), messages
    assert messages.count(QUERY_TOO_SLOW) >= 4


class DeadlineRecordingBroker(apb_grpc.TokenBrokerServiceServicer):
    """Stands in for the auth service's token broker and records the deadline each call arrived with."""

    def __init__(self) -> None:
        self.remaining: list[float] = []
        self._lock = threading.Lock()

    def GetAccessToken(
        self, request: apb.GetAccessTokenRequest, context: grpc.ServicerContext
    ) -> apb.GetAccessTokenResponse:
        with self._lock:
            self.remaining.append(context.time_remaining())
        context.abort(grpc.StatusCode.UNAVAILABLE, "stub broker: no token")
        raise AssertionError("unreachable")


@pytest.fixture
def recording_broker() -> Iterator[tuple[str, DeadlineRecordingBroker]]:
    broker = DeadlineRecordingBroker()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    apb_grpc.add_TokenBrokerServiceServicer_to_server(broker, server)
    address = f"127.0.0.1:{processes.free_port()}"
    server.add_insecure_port(address)
    server.start()
    yield address, broker
    server.stop(0)


def test_the_catalogs_call_to_the_auth_service_carries_the_remaining_deadline(
    stack: FaultStack, recording_broker: tuple[str, DeadlineRecordingBroker]
) -> None:
    """The catalog's own timeout for a broker call is 12 s; a SyncSupplier call with 3 s left must
    not let the broker work on for 12 s after its caller gave up."""
    address, broker = recording_broker
    catalog = stack.start_catalog("catalog-recording-broker", CATALOG_AUTH_ADDRESS=address)
    channel = grpc.insecure_channel(catalog.plan.address)
    try:
        with contextlib.suppress(grpc.RpcError):  # the stub broker has no token: the sync fails
            pb_grpc.SupplierServiceStub(channel).SyncSupplier(pb.SyncSupplierRequest(), timeout=3.0)
    finally:
        channel.close()
        catalog.stop()
    assert broker.remaining, "the catalog never called the token broker"
    print(f"\nthe broker saw {broker.remaining[0]:.2f} s left of a 3 s call")
    assert 2.0 < broker.remaining[0] <= 3.1  # gRPC may round a grpc-timeout it sends up a little
