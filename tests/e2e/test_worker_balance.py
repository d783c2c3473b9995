"""Every worker of a service gets its share of the edge's traffic from the first request: each has its
own port, listed by the edge as an endpoint (SO_REUSEPORT alone spreads the edge's few long-lived
HTTP/2 connections, and both could land on one worker for a whole run)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness.stack import free_port_block
from devstack import processes, services
from tests.conftest import MariaDB, RedisServer
from tests.e2e.conftest import SERVICE_START_TIMEOUT, start_edge

WORKERS = 2


@pytest.fixture(scope="module")
def two_worker_edge(
    run_dir: Path, stack_mariadb: MariaDB, stack_redis: RedisServer
) -> Iterator[tuple[str, int]]:
    metrics = free_port_block(WORKERS)
    plan = services.ServicePlan(
        "catalog",
        processes.free_port(),
        metrics,
        stack_mariadb.service_url("catalog"),
        stack_redis.url,
        workers=WORKERS,
        extra_env={"CATALOG_OUTBOX_RELAY_ENABLED": "false"},
        worker_port_base=free_port_block(WORKERS),
    )
    services.migrate(plan)
    proc = services.start(plan, run_dir / "balance" / "catalog.log")
    envoy = None
    try:
        for worker in range(WORKERS):
            processes.wait_for_port(
                plan.worker_port_base + worker, SERVICE_START_TIMEOUT, proc.process, "catalog"
            )
        unreachable = f"127.0.0.1:{processes.free_port()}"
        cfg, envoy, _ = start_edge(run_dir, "balance-envoy", plan.edge_addresses, unreachable, unreachable)
        yield f"http://127.0.0.1:{cfg.listen_port}", metrics
    finally:
        if envoy is not None:
            envoy.stop()
        proc.stop()


def _served(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5, trust_env=False).text
    pattern = r'farmlokal_rpc_duration_seconds_count\{code="OK",method="[^"]*GetLiveness"\} ([0-9.e+]+)'
    return sum(float(v) for v in re.findall(pattern, text))


def test_each_worker_serves_its_share_from_the_first_requests(two_worker_edge: tuple[str, int]) -> None:
    base_url, metrics = two_worker_edge
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        for _ in range(100):
            assert client.get("/health/live").status_code == 200
    counts = [_served(metrics + worker) for worker in range(WORKERS)]
    assert sum(counts) == 100, counts
    assert min(counts) >= 35, f"requests per worker: {counts}"
