"""Class: a request that is cheap to send and expensive to answer, sent by many clients at once.

Sixteen clients polling GET /health each made the catalog run its six dependency probes and were
never rate limited; other clients' listings slowed from 9 to 152 ms (p50). Expected: the report is
computed at most about once a second per process and shared by concurrent callers
(farmlokal_health_reports_computed_total counts the computations), and /health is rate limited per
client like any route (CATALOG_RATE_LIMITS GetHealth=10/1 by default and in this stack).
"""

from __future__ import annotations

import re
import threading
import time

import grpc
import httpx
from farmlokal.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from tests.e2e.conftest import Edge

CLIENTS = 16
SECONDS = 2.0


def reports_computed(edge: Edge) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{edge.plans['catalog'].metrics_port}/metrics", timeout=5).text
    found = re.search(r"^farmlokal_health_reports_computed_total (\S+)$", metrics, re.MULTILINE)
    assert found, "the catalog exports farmlokal_health_reports_computed_total"
    return float(found.group(1))


def _poll(seconds: float, call: object, outcomes: list[str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcomes.append(call())  # type: ignore[operator]


def _run(clients: int, seconds: float, make_call: object) -> list[str]:
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=_poll, args=(seconds, make_call(i), outcomes))  # type: ignore[operator]
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    return outcomes


def test_concurrent_callers_share_one_report_a_second(hostile_edge: Edge) -> None:
    """16 clients, each under its own limit (distinct client addresses, straight to the service as
    the edge would forward them), polling as fast as they can."""
    channel = grpc.insecure_channel(hostile_edge.plans["catalog"].address)
    stub = catalog_pb2_grpc.SystemHealthServiceStub(channel)

    def make_call(index: int) -> object:
        metadata = [("x-forwarded-for", f"198.51.100.{index + 1}")]

        def call() -> str:
            try:
                stub.GetHealth(catalog_pb2.GetHealthRequest(), metadata=metadata, timeout=5)
            except grpc.RpcError as error:
                return error.code().name
            time.sleep(0.1)  # each client stays under its 10/s
            return "OK"

        return call

    try:
        before, started = reports_computed(hostile_edge), time.monotonic()
        outcomes = _run(CLIENTS, SECONDS, make_call)
        elapsed = time.monotonic() - started
        computed = reports_computed(hostile_edge) - before
    finally:
        channel.close()
    assert outcomes.count("OK") >= CLIENTS * SECONDS * 5, outcomes  # the polls were served...
    assert computed <= elapsed + 2, (computed, elapsed)  # ...by about one report a second


def test_a_client_polling_health_too_fast_gets_429(hostile_edge: Edge) -> None:
    def make_call(index: int) -> object:
        client = httpx.Client(base_url=hostile_edge.base_url, timeout=10, trust_env=False)

        def call() -> str:
            response = client.get("/health")
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
            return str(response.status_code)

        return call

    before, started = reports_computed(hostile_edge), time.monotonic()
    outcomes = _run(CLIENTS, SECONDS, make_call)
    elapsed = time.monotonic() - started
    computed = reports_computed(hostile_edge) - before
    assert "429" in outcomes and "200" in outcomes, sorted(set(outcomes))
    # 10/s for this address, after a burst of 10 (GCRA)
    assert outcomes.count("200") <= 10 * (elapsed + 1) + 2, (outcomes.count("200"), elapsed)
    assert computed <= elapsed + 2, (computed, elapsed)
