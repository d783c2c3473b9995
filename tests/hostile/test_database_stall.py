"""Class: a stalled dependency costs its callers, not everyone (issue 12 row 9).

MariaDB is SIGSTOPped for 10 s under a ~30 req/s mixed load through the edge: cached listings of a
few warm queries, uncached listings (queries of their own) and products by id. While it is stopped,
cached listings keep answering in milliseconds; requests that need the database get a clear 503
within 3 s instead of hanging; a client that stayed under its rate limit gets no 429 (requests are
charged at arrival, not when a thread frees up after the stall); after SIGCONT everything answers
again without a restart. This module runs its own stack (it stops its database).
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack import services
from tests.conftest import MariaDB, start_mariadb, start_redis
from tests.e2e.auth_sandbox import start_sandbox
from tests.e2e.conftest import Edge, running_stack

PRODUCTS = 2000
RATE_PER_SECOND = 30
BEFORE_S, STALL_S, AFTER_S = 3.0, 10.0, 6.0
RECOVERY_S = 3.0  # after SIGCONT, requests started this much later must all succeed
# Per client and route: far above what the load sends (at most 15 listings and 5 products a second),
# with bursts far below what queues behind a 10 s stall (~200 requests).
RATE_LIMITS = "ListProducts=40/1,GetProduct=40/1,*=1000/1"
WARM_QUERIES = [
    {"limit": "20", "sort": "price", "order": "asc"},
    {"limit": "20", "category": "Fruits"},
    {"limit": "10", "sort": "name", "order": "desc"},
]
# One 6-slot cycle: 3 cached listings, 2 uncached listings, 1 product.
CYCLE = ("cached", "uncached", "cached", "product", "cached", "uncached")


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # seconds since the load began
    seconds: float
    status: int  # 0: no answer at all (the client's own timeout)


@pytest.fixture(scope="module")
def stall_stack(run_dir: Path) -> Iterator[tuple[Edge, MariaDB]]:
    base = run_dir / "stall"
    mariadb = start_mariadb(base, "mariadb")
    redis_server = start_redis(base, "redis")
    sandbox = start_sandbox(base, "sandbox")
    try:
        env = {"CATALOG_RATE_LIMITS": RATE_LIMITS, "CATALOG_OUTBOX_RELAY_ENABLED": "false"}
        with running_stack(base, "stall", mariadb, redis_server, sandbox, env) as edge:
            services.seed(edge.plans["catalog"], PRODUCTS, base / "seed.log")
            yield edge, mariadb
    finally:
        os.kill(mariadb.process.pid, signal.SIGCONT)  # never leave it stopped
        sandbox.stop()
        redis_server.stop()
        mariadb.process.stop()


def _request(http: httpx.Client, kind: str, serial: int) -> int:
    if kind == "cached":
        params = WARM_QUERIES[serial % len(WARM_QUERIES)]
        return http.get("/v1/products", params=params).status_code
    if kind == "uncached":
        # A price range nobody asked for before: the cache cannot answer it, the database must.
        low, high = serial % 200 + 1, 900 + serial // 200
        return http.get(
            "/v1/products", params={"limit": "5", "min_price": f"{low}.01", "max_price": f"{high}"}
        ).status_code
    return http.get(f"/v1/products/{serial % PRODUCTS + 1}").status_code


def run_load(edge: Edge, mariadb: MariaDB) -> tuple[list[Sample], float, float]:
    """The mixed load for BEFORE_S + STALL_S + AFTER_S, MariaDB stopped in the middle; returns the
    samples and when the stall began and ended (seconds since the load began)."""
    samples: list[Sample] = []
    lock = threading.Lock()
    http = httpx.Client(
        base_url=edge.base_url, timeout=15.0, trust_env=False, limits=httpx.Limits(max_connections=200)
    )
    began = time.monotonic()

    def one(kind: str, serial: int, due: float) -> None:
        started = time.monotonic()
        try:
            status = _request(http, kind, serial)
        except httpx.TimeoutException:
            status = 0
        with lock:
            samples.append(Sample(kind, due, time.monotonic() - started, status))

    stall = [0.0, 0.0]
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=200) as pool:
        for serial in itertools.count(1):
            due = serial / RATE_PER_SECOND
            if due > BEFORE_S + STALL_S + AFTER_S:
                break
            if not stall[0] and due >= BEFORE_S:
                os.kill(mariadb.process.pid, signal.SIGSTOP)
                stall[0] = time.monotonic() - began
            if stall[0] and not stall[1] and due >= BEFORE_S + STALL_S:
                os.kill(mariadb.process.pid, signal.SIGCONT)
                stall[1] = time.monotonic() - began
            time.sleep(max(0.0, began + due - time.monotonic()))
            pending.append(pool.submit(one, CYCLE[serial % len(CYCLE)], 100_000 + serial, due))
        for future in pending:
            future.result()
    http.close()
    return samples, stall[0], stall[1]


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def test_cache_hits_keep_answering_and_the_rest_fail_fast_while_mariadb_is_stopped(
    stall_stack: tuple[Edge, MariaDB],
) -> None:
    edge, mariadb = stall_stack
    with edge.client() as http:  # warm the cached queries and check the stack answers
        for params in WARM_QUERIES:
            assert http.get("/v1/products", params=params).status_code == 200
    samples, stall_began, stall_ended = run_load(edge, mariadb)

    during = [s for s in samples if stall_began <= s.started < stall_ended]
    cached = [s for s in samples if s.kind == "cached"]
    cached_during = [s.seconds for s in during if s.kind == "cached"]
    needs_db = [s for s in during if s.kind != "cached"]
    recovered = [s for s in samples if s.started >= stall_ended + RECOVERY_S]
    slowest_cached = sorted(cached, key=lambda s: -s.seconds)[:5]
    statuses: dict[int, int] = {}
    for s in samples:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    print(
        f"\n{len(samples)} requests, statuses {statuses}; stall {stall_began:.1f}-{stall_ended:.1f} s"
        f"\ncached: p50 {statistics.median(s.seconds for s in cached) * 1000:.1f} ms,"
        f" p99 {_p99([s.seconds for s in cached]) * 1000:.1f} ms overall,"
        f" p99 {_p99(cached_during) * 1000:.1f} ms during the stall (n={len(cached_during)})"
        f"\nneeding the database during the stall: {sum(s.status == 503 for s in needs_db)} x 503,"
        f" {sum(s.status == 200 for s in needs_db)} x 200, slowest {max(s.seconds for s in needs_db):.2f} s"
        f"\nafter {RECOVERY_S:.0f} s of recovery: {sum(s.status == 200 for s in recovered)}/{len(recovered)} OK"
        f"\nslowest cached: {[(round(s.started, 1), round(s.seconds * 1000)) for s in slowest_cached]}"
    )

    assert all(s.status == 200 for s in cached), [s for s in cached if s.status != 200][:5]
    assert _p99([s.seconds for s in cached]) < 0.050
    assert _p99(cached_during) < 0.050
    assert statuses.get(429, 0) == 0, "a client under its limit was rate limited"
    assert any(s.status == 503 for s in needs_db), "the stall was not noticed"
    assert all(s.status in (200, 503) and s.seconds < 3.0 for s in needs_db), sorted(
        needs_db, key=lambda s: -s.seconds
    )[:5]
    assert recovered and all(s.status == 200 for s in recovered), [s for s in recovered if s.status != 200][
        :5
    ]
