"""The shared server builder: error mapping with details, response headers, health, graceful stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from farmlokal_common import response_headers
from farmlokal_common import server as server_module
from farmlokal_common.errors import FieldViolation, InvalidArgument, RateLimited
from farmlokal_common.metrics import BACKGROUND_RESTARTS
from farmlokal_common.server import RunningServer, ServiceApp, create_server
from farmlokal_common.settings import ServiceSettings

SERVICE = "farmlokal.catalog.v1.CatalogService"
checks_failing = threading.Event()


def behaviour(request: pb.GetProductRequest, context: grpc.ServicerContext) -> pb.Product:
    match request.id:
        case "bad":
            raise InvalidArgument(FieldViolation("id", "id must be a positive integer"))
        case "boom":
            raise RuntimeError("SELECT secret FROM users")
        case "limited":
            response_headers.add("x-ratelimit-limit", "5")
            raise RateLimited("rate limit exceeded", 7)
        case "slow":
            time.sleep(1.0)
    response_headers.add("x-ratelimit-remaining", "4")
    return pb.Product(id=1, name="Mango")


def failing_check() -> None:
    if checks_failing.is_set():
        raise ConnectionError("mysql gone")


@pytest.fixture
def server() -> Iterator[tuple[RunningServer, grpc.Channel]]:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetProduct": grpc.unary_unary_rpc_method_handler(
                behaviour, pb.GetProductRequest.FromString, pb.Product.SerializeToString
            )
        },
    )
    app = ServiceApp(
        service_names=[SERVICE],
        register=lambda s: s.add_generic_rpc_handlers((handler,)),
        dependency_checks={"mysql": failing_check},
    )
    checks_failing.clear()
    running = create_server("127.0.0.1:0", app, ServiceSettings(health_check_interval_seconds=0.05))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield running, channel
    channel.close()
    running.stop(0)


def call(channel: grpc.Channel, product_id: str, **kwargs):
    return channel.unary_unary(
        f"/{SERVICE}/GetProduct", pb.GetProductRequest.SerializeToString, pb.Product.FromString
    ).with_call(pb.GetProductRequest(id=product_id), timeout=5, **kwargs)


def test_invalid_argument_carries_a_field_violation(server) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(server[1], "bad")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "id"


def test_unexpected_errors_are_internal_without_internals_and_logged_with_request_id(server, caplog) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(grpc.RpcError) as info:
        call(server[1], "boom", metadata=[("x-request-id", "req-123")])
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.details()
    assert any(r.exc_info and "SELECT secret" in str(r.exc_info[1]) for r in caplog.records)


def test_rate_limited_sends_retry_after_and_gathered_headers(server) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(server[1], "limited")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(info.value.trailing_metadata())
    assert trailers["retry-after"] == "7"
    assert trailers["x-ratelimit-limit"] == "5"


def test_headers_added_by_a_successful_call_arrive_as_initial_metadata(server) -> None:
    response, rpc = call(server[1], "1")
    assert response.name == "Mango"
    assert ("x-ratelimit-remaining", "4") in rpc.initial_metadata()


def health_status(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status


def test_health_follows_dependencies(server) -> None:
    _, channel = server
    assert health_status(channel, SERVICE) == health_pb2.HealthCheckResponse.SERVING
    checks_failing.set()
    deadline = time.monotonic() + 3
    while (
        health_status(channel) != health_pb2.HealthCheckResponse.NOT_SERVING and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
    checks_failing.clear()
    deadline = time.monotonic() + 3
    while health_status(channel) != health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
        time.sleep(0.02)
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def test_graceful_stop_lets_the_in_flight_call_finish(server) -> None:
    running, channel = server
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(response=call(channel, "slow")[0]))
    worker.start()
    time.sleep(0.2)
    running.stop(grace=5)
    worker.join(5)
    assert result["response"].name == "Mango"


def test_prebuilt_responses_go_out_as_they_are() -> None:
    from catalog_service.transport.prebuilt import Prebuilt, PrebuiltResponseInterceptor

    wire = pb.Product(id=7, name="Prebuilt").SerializeToString()
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetProduct": grpc.unary_unary_rpc_method_handler(
                lambda request, context: Prebuilt(wire),
                pb.GetProductRequest.FromString,
                pb.Product.SerializeToString,
            )
        },
    )
    running = create_server(
        "127.0.0.1:0",
        ServiceApp(
            service_names=[SERVICE],
            register=lambda s: s.add_generic_rpc_handlers((handler,)),
            interceptors=[PrebuiltResponseInterceptor()],
        ),
        ServiceSettings(),
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            response, _ = call(channel, "7")
        assert (response.id, response.name) == (7, "Prebuilt")
    finally:
        running.stop(0)


def rpc_log_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "farmlokal.rpc"]


def test_access_log_by_default_has_failures_and_slow_calls_not_fast_successes(server, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="farmlokal.rpc"):
        call(server[1], "1", metadata=(("x-request-id", "req-fast-ok"),))
        with pytest.raises(grpc.RpcError):
            call(server[1], "bad", metadata=(("x-request-id", "req-bad"),))
        call(server[1], "slow", metadata=(("x-request-id", "req-slow"),))
    lines = {r.__dict__.get("code"): r for r in rpc_log_lines(caplog)}
    assert set(lines) == {"INVALID_ARGUMENT", "OK"}
    assert lines["OK"].__dict__["duration_ms"] >= 250  # the slow one, not the fast one


def test_access_log_all_logs_every_call_with_its_request_id() -> None:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetProduct": grpc.unary_unary_rpc_method_handler(
                behaviour, pb.GetProductRequest.FromString, pb.Product.SerializeToString
            )
        },
    )
    app = ServiceApp(service_names=[SERVICE], register=lambda s: s.add_generic_rpc_handlers((handler,)))
    running = create_server("127.0.0.1:0", app, ServiceSettings(access_log="all"))
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from farmlokal_common.request_context import current_request_id

            record.bound_request_id = current_request_id()
            records.append(record)

    keep = Keep()
    rpc_logger = logging.getLogger("farmlokal.rpc")
    rpc_logger.addHandler(keep)
    rpc_logger.setLevel(logging.INFO)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            for request_id in ("req-a", "req-b", "req-c"):
                call(channel, "1", metadata=(("x-request-id", request_id),))
    finally:
        rpc_logger.removeHandler(keep)
        running.stop(0)
    # The handler chain is built once per method; each call still logs under its own request id.
    assert [(r.__dict__["code"], r.bound_request_id) for r in records] == [
        ("OK", "req-a"),
        ("OK", "req-b"),
        ("OK", "req-c"),
    ]


def test_an_unknown_access_log_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="'all' or 'errors'"):
        ServiceSettings(access_log="some")


def test_a_background_task_that_raises_is_started_again_until_the_server_stops(monkeypatch, caplog) -> None:
    monkeypatch.setattr(server_module, "RESTART_DELAY_SECONDS", 0.01)
    runs: list[float] = []
    healthy = threading.Event()

    def relay(stopping: threading.Event) -> None:
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise ConnectionError("an error its loop did not expect")
        healthy.set()
        stopping.wait()

    before = BACKGROUND_RESTARTS.labels(relay.__qualname__)._value.get()
    app = ServiceApp(service_names=[SERVICE], register=lambda s: None, background=[relay])
    with caplog.at_level(logging.ERROR, logger="farmlokal.server"):
        running = create_server("127.0.0.1:0", app, ServiceSettings())
        try:
            assert healthy.wait(5), runs
        finally:
            running.stop(1)
    assert len(runs) == 3 and runs[2] - runs[1] >= 0.02  # the back-off doubled
    assert BACKGROUND_RESTARTS.labels(relay.__qualname__)._value.get() - before == 2
    assert sum("background task failed" in r.getMessage() for r in caplog.records) == 2
    assert not running.workers[0].is_alive(), "stopped with the server"
