"""Builds and runs a gRPC server: interceptors, health, reflection, graceful stop, worker processes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from farmlokal_common.interceptors import PerMethodChain
from farmlokal_common.interceptors.error_mapping import ErrorMappingInterceptor
from farmlokal_common.interceptors.request_logging import AccessLogPolicy, RequestLoggingInterceptor
from farmlokal_common.interceptors.request_validation import RequestValidationInterceptor
from farmlokal_common.metrics import BACKGROUND_RESTARTS, DEPENDENCY_UP
from farmlokal_common.settings import ServiceSettings

log = logging.getLogger("farmlokal.server")

Registrar = Callable[[grpc.Server], None]
METADATA_LIMIT_BYTES = 64 * 1024
# A background task that raised is started again after this, doubling up to the max while it keeps failing.
RESTART_DELAY_SECONDS = 1.0
RESTART_DELAY_MAX_SECONDS = 30.0
DependencyCheck = Callable[[], None]


@dataclass
class ServiceApp:
    """What a service hands to the server builder: servicers, checks, interceptors, cleanup."""

    service_names: Sequence[str]
    register: Registrar
    dependency_checks: dict[str, DependencyCheck] = field(default_factory=dict)
    interceptors: Sequence[grpc.ServerInterceptor] = ()
    on_stop: Sequence[Callable[[], None]] = ()
    background: Sequence[Callable[[threading.Event], None]] = ()


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: ServiceApp
    stopping: threading.Event
    workers: list[threading.Thread] = field(default_factory=list)

    def stop(self, grace: float) -> None:
        """Health NOT_SERVING first, then let in-flight RPCs finish, then release resources."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        deadline = time.monotonic() + grace
        for worker in self.workers:  # they finish their current item and release their claims
            worker.join(max(0.1, deadline - time.monotonic()))
        for hook in self.app.on_stop:
            try:
                hook()
            except Exception:
                log.exception("shutdown hook failed")


def create_server(
    address: str, app: ServiceApp, settings: ServiceSettings, also_listen: Sequence[str] = ()
) -> RunningServer:
    """Starts the server on address (port 0 picks a free one) and returns it with its port; it also
    listens on `also_listen` (a worker's own port)."""
    options = [
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ("grpc.keepalive_time_ms", 30_000),
        # The edge pings its upstream connections every second (connection_keepalive, to notice a
        # dead replica); gRPC's default, one ping per 5 minutes without data, answers a call that
        # sends nothing for 3 s (a supplier sync) with GOAWAY "too many pings": a 503 at the edge.
        ("grpc.http2.min_ping_interval_without_data_ms", 500),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_receive_message_length", 2 * 1024 * 1024),
        # Above the edge's 16 KiB request-header limit plus what Envoy adds, so an oversized header
        # is the edge's clear 431, never this server's RESOURCE_EXHAUSTED (which lists the headers).
        ("grpc.max_metadata_size", METADATA_LIMIT_BYTES),
        ("grpc.absolute_max_metadata_size", METADATA_LIMIT_BYTES),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.thread_pool_size),
        interceptors=[
            PerMethodChain(
                [
                    RequestLoggingInterceptor(
                        AccessLogPolicy(settings.access_log, settings.access_log_slow_ms)
                    ),
                    ErrorMappingInterceptor(),
                    *app.interceptors,
                    # Innermost: the services' own interceptors (the rate limiter) count what it refuses.
                    RequestValidationInterceptor(settings.max_text_field_chars),
                ]
            )
        ],
        options=options,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    app.register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*app.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}: the port is taken or the address is invalid")
    for extra in also_listen:
        if server.add_insecure_port(extra) == 0:
            raise OSError(f"cannot listen on {extra}: the port is taken or the address is invalid")
    server.start()
    running = RunningServer(server, port, health_servicer, app, threading.Event())
    _start_health_monitor(running, settings.health_check_interval_seconds)
    for task in app.background:
        worker = threading.Thread(target=supervise, args=(task, running.stopping), daemon=True)
        worker.start()
        running.workers.append(worker)
    return running


def supervise(task: Callable[[threading.Event], None], stopping: threading.Event) -> None:
    """Runs a background task until the server stops. One that raises (a bug, an error its own loop
    did not expect) is logged, counted and started again after a back-off, instead of ending its
    thread silently while the service keeps reporting SERVING."""
    name = getattr(task, "__qualname__", type(task).__name__)
    delay = RESTART_DELAY_SECONDS
    while not stopping.is_set():
        try:
            task(stopping)
            return  # it finished (its loop saw `stopping`, or it had nothing more to do)
        except Exception:
            log.exception("background task failed; starting it again", extra={"task": name, "in_s": delay})
            BACKGROUND_RESTARTS.labels(name).inc()
        if stopping.wait(delay):
            return
        delay = min(delay * 2, RESTART_DELAY_MAX_SECONDS)


def _start_health_monitor(running: RunningServer, interval: float) -> None:
    """Serving follows the dependencies: any failing check turns every service NOT_SERVING."""

    def set_all(status: int) -> None:
        for name in ("", *running.app.service_names):
            running.health.set(name, status)

    def check_once() -> None:
        failing = []
        for name, check in running.app.dependency_checks.items():
            try:
                check()
            except Exception as error:
                failing.append(f"{name}: {type(error).__name__}")
                DEPENDENCY_UP.labels(name).set(0)
            else:
                DEPENDENCY_UP.labels(name).set(1)
        if failing:
            log.warning("dependencies failing", extra={"failing": failing})
        set_all(
            health_pb2.HealthCheckResponse.NOT_SERVING if failing else health_pb2.HealthCheckResponse.SERVING
        )

    def loop() -> None:
        while not running.stopping.wait(interval):
            check_once()

    check_once()
    threading.Thread(target=loop, name="health-monitor", daemon=True).start()


def serve(settings: ServiceSettings, build_app: Callable[[], ServiceApp]) -> None:
    """Runs settings.workers processes sharing the port (SO_REUSEPORT); SIGTERM stops them gracefully.

    Workers are forked before any gRPC object exists, as grpcio requires.
    """
    if settings.workers <= 1:
        _serve_one(settings, build_app)
        return
    children = []
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _serve_one(settings, build_app, index)
            except BaseException:
                log.exception("worker failed", extra={"worker": index})
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed, remaining = 0, set(children)
    while remaining:
        pid, status = os.wait()
        remaining.discard(pid)
        if os.waitstatus_to_exitcode(status) != 0:
            failed += 1
            forward(signal.SIGTERM, None)  # one worker down: stop the rest, let the supervisor restart
    if failed:
        raise SystemExit(f"{failed} of {settings.workers} worker processes failed; see the log")


def _serve_one(settings: ServiceSettings, build_app: Callable[[], ServiceApp], worker: int = 0) -> None:
    if settings.metrics_port:
        # One metrics port per worker process: metrics_port + worker index.
        start_http_server(settings.metrics_port + worker, addr=settings.grpc_host)
    app = build_app()
    own = [f"{settings.grpc_host}:{settings.worker_port_base + worker}"]
    running = create_server(
        settings.grpc_address,
        app,
        settings,
        own if settings.worker_port_base and settings.workers > 1 else (),
    )
    log.info("serving", extra={"address": f"{settings.grpc_host}:{running.port}", "pid": os.getpid()})
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})

        def stop() -> None:
            running.stop(settings.grace_seconds)
            done.set()

        threading.Thread(target=stop, name="graceful-stop").start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    log.info("stopped")
