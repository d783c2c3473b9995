"""Operability with real processes: metrics, request ids across services, graceful SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import httpx
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import processes, services


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text


def test_services_serve_prometheus_metrics(edge) -> None:
    with edge.client() as http:
        assert http.get("/v1/products", params={"limit": "1"}).status_code == 200
        assert http.get("/v1/products/abc").status_code == 400
    text = scrape(edge.plans["catalog"].metrics_port)
    assert (
        'farmlokal_rpc_duration_seconds_count{code="OK",method="/farmlokal.catalog.v1.CatalogService/ListProducts"}'
        in text
    )
    assert 'code="INVALID_ARGUMENT",method="/farmlokal.catalog.v1.CatalogService/GetProduct"' in text
    assert 'farmlokal_db_pool_in_use{pool="catalog"}' in text
    assert "farmlokal_cache_events_total" in text
    assert "farmlokal_rpc_duration_seconds" in scrape(edge.plans["webhook"].metrics_port)


def test_the_request_id_follows_a_request_into_the_logs(edge) -> None:
    with edge.client() as http:
        response = http.get("/v1/products/12345678")
    request_id = response.headers["x-request-id"]
    log = edge.processes["catalog"].log_path
    deadline = time.monotonic() + 5
    while request_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(line for line in log.read_text().splitlines() if request_id in line)
    assert '"rpc": "/farmlokal.catalog.v1.CatalogService/GetProduct"' in line
    assert '"code": "NOT_FOUND"' in line and '"duration_ms"' in line


class SlowEndpoint:
    """An HTTP endpoint that answers after a delay (a slow dependency of the health report)."""

    def __init__(self, delay: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_sigterm_lets_the_in_flight_request_finish_then_exits(edge, run_dir) -> None:
    slow = SlowEndpoint(0.8)
    plan = services.ServicePlan(
        name="catalog",
        grpc_port=processes.free_port(),
        metrics_port=processes.free_port(),
        database_url=edge.plans["catalog"].database_url,
        redis_url=edge.plans["catalog"].redis_url,
        extra_env={"CATALOG_SUPPLIER_HEALTH_URL": slow.url, "CATALOG_OUTBOX_RELAY_ENABLED": "false"},
    )
    proc = services.start(plan, run_dir / "e2e" / "catalog-sigterm.log")
    try:
        processes.wait_for_port(plan.grpc_port, 30, proc.process, "catalog")
        with grpc.insecure_channel(plan.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            slow_call = pb_grpc.SystemHealthServiceStub(channel).GetHealth.future(
                pb.GetHealthRequest(), timeout=10
            )
            time.sleep(0.3)
            proc.process.send_signal(signal.SIGTERM)
            report = slow_call.result()
            assert report.status in ("ok", "degraded") and report.checks["supplier_api"].state == "ok"
        assert proc.process.wait(15) == 0
        log = proc.log_path.read_text()
        assert '"msg": "stopping"' in log and '"msg": "stopped"' in log
    finally:
        proc.stop()
        slow.server.shutdown()
