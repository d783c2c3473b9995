"""The catalog reading from a real MariaDB GTID replica behind the edge: read-your-writes with the
replica's SQL thread stopped, reads back on the replica once it catches up (counted per server), and
a killed replica costing nothing after its first second (/health names it degraded)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as ipb_grpc

from devstack import services
from tests.conftest import RedisServer, start_redis
from tests.data_tier import ReplicatedMariaDB, com_select, start_replicated_mariadb
from tests.e2e.auth_sandbox import SandboxProcess, start_sandbox
from tests.e2e.conftest import Edge, running_stack
from tests.faults.background_load import BackgroundLoad
from tests.faults.conftest import wait_until

PRODUCTS = 400
MAX_LAG_SECONDS = 3.0


@pytest.fixture(scope="module")
def replica_stack(run_dir: Path) -> Iterator[tuple[Edge, ReplicatedMariaDB]]:
    base = run_dir / "replica-stack"
    pair = start_replicated_mariadb(base, "mariadb")
    redis_server: RedisServer = start_redis(base, "redis")
    sandbox: SandboxProcess = start_sandbox(base, "sandbox")
    env = {
        "CATALOG_DATABASE_READ_URL": pair.replica.service_url("catalog"),
        "CATALOG_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS),
        "CATALOG_RATE_LIMITS": "*=100000/1",
        "CATALOG_OUTBOX_RELAY_ENABLED": "false",
    }
    try:
        with running_stack(base, "stack", pair.primary, redis_server, sandbox, env) as edge:
            services.seed(edge.plans["catalog"], PRODUCTS, base / "seed.log")
            pair.wait_caught_up()
            yield edge, pair
    finally:
        sandbox.stop()
        redis_server.stop()
        pair.stop()


def reads_by_route(edge: Edge) -> dict[str, float]:
    """farmlokal_db_reads_total{pool="catalog_read"} of the catalog by route."""
    text = httpx.get(f"http://127.0.0.1:{edge.plans['catalog'].metrics_port}/metrics", timeout=5).text
    pattern = r'farmlokal_db_reads_total\{pool="catalog_read",route="(\w+)"\} ([0-9.e+]+)'
    return {route: float(value) for route, value in re.findall(pattern, text)}


def replica_lag(edge: Edge) -> float:
    text = httpx.get(f"http://127.0.0.1:{edge.plans['catalog'].metrics_port}/metrics", timeout=5).text
    match = re.search(r'farmlokal_db_replica_lag_seconds\{pool="catalog_read"\} ([0-9.e+]+)', text)
    return float(match.group(1)) if match else -1.0


def upsert(edge: Edge, external_id: str, name: str) -> None:
    with grpc.insecure_channel(edge.plans["catalog"].address) as channel:
        ipb_grpc.ProductWriteServiceStub(channel).UpsertProducts(
            ipb.UpsertProductsRequest(
                products=[
                    ipb.ProductInput(
                        external_id=external_id,
                        name=name,
                        description="written while the replica applied nothing",
                        category="Pantry",
                        price="321.00",
                        stock=4,
                    )
                ]
            ),
            timeout=10,
        )


def health(http: httpx.Client) -> dict:  # type: ignore[type-arg]
    return dict(http.get("/health").json())


def test_the_next_read_shows_a_write_the_paused_replica_has_not_applied(
    replica_stack: tuple[Edge, ReplicatedMariaDB],
) -> None:
    edge, pair = replica_stack
    word = "zq" + uuid.uuid4().hex[:6]
    with edge.client() as http:
        assert http.get("/v1/products", params={"q": word}).json().get("products", []) == []  # now cached
        pair.pause()
        try:
            before = reads_by_route(edge)
            upsert(edge, f"replica-{word}", f"Wildflower Honey {word}")
            listing = http.get("/v1/products", params={"q": word})
            assert listing.status_code == 200
            products = listing.json()["products"]
            assert [p["name"] for p in products] == [f"Wildflower Honey {word}"]
            product = http.get(f"/v1/products/{products[0]['id']}")
            assert product.status_code == 200 and product.json()["name"] == f"Wildflower Honey {word}"
            after = reads_by_route(edge)
            delta = {
                k: after.get(k, 0) - before.get(k, 0)
                for k in ("primary_wait_timeout", "primary_replica_behind")
            }
            # The first waited 0.1 s on the replica, then read the primary; the second went straight there.
            assert delta == {"primary_wait_timeout": 1, "primary_replica_behind": 1}, after
            wait_until(lambda: replica_lag(edge) > 0.5, 10, "the catalog seeing the replica lag")
        finally:
            pair.resume()
        pair.wait_caught_up()
        wait_until(lambda: replica_lag(edge) == 0.0, 10, "the catalog seeing the replica caught up")

        before, replica_selects = reads_by_route(edge), com_select(pair.replica)
        for n in range(1, 21):  # uncached listings (limits 21-40: entries of their own) and product reads
            assert http.get("/v1/products", params={"q": word, "limit": str(20 + n)}).status_code == 200
            assert http.get(f"/v1/products/{products[0]['id']}").json()["name"] == f"Wildflower Honey {word}"
        after = reads_by_route(edge)
        # On the replica: at once, or after a wait for the floor the monitor had not yet seen it reach.
        on_replica = sum(after.get(k, 0) - before.get(k, 0) for k in ("replica", "replica_after_wait"))
        on_primary = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("primary"))
        print(f"after resume: {on_replica:.0f} reads on the replica, {on_primary:.0f} on the primary")
        assert on_replica >= 40 and on_primary == 0
        assert com_select(pair.replica) - replica_selects >= 40


def test_a_killed_replica_costs_no_error_after_its_first_second(
    replica_stack: tuple[Edge, ReplicatedMariaDB],
) -> None:
    edge, pair = replica_stack
    with edge.client() as http:
        ids = [p["id"] for p in http.get("/v1/products", params={"limit": "50"}).json()["products"]]
    requests = [("/v1/products", {"limit": "10", "sort": "price", "order": "asc"})]
    requests += [(f"/v1/products/{i}", {}) for i in ids[:20]]  # never cached: each reaches the database
    with BackgroundLoad(edge.base_url, requests, rate=20) as load:
        time.sleep(2)
        killed_at = time.monotonic()
        pair.kill_replica()
        time.sleep(5)
        with edge.client() as http:
            report = health(http)
        load.stop()
    try:
        late_errors = load.errors(killed_at + 1.0)
        first_second = load.errors(killed_at, killed_at + 1.0)
        print(f"replica killed: {len(first_second)} errors in its first second, {len(late_errors)} after")
        assert load.errors(0, killed_at) == []
        assert late_errors == [], late_errors[:3]
        assert len(load.between(killed_at + 1.0, float("inf"))) >= 50
        replica = report["checks"]["catalog.mysql_replica"]
        assert report["status"] == "degraded" and replica["state"] == "degraded", report
        assert "unreachable" in replica["detail"]
        assert report["checks"]["catalog.mysql"]["state"] == "ok"
    finally:
        pair.start_replica()
    pair.wait_caught_up()
    with edge.client() as http:
        wait_until(lambda: health(http)["checks"]["catalog.mysql_replica"]["state"] == "ok", 15, "replica ok")
        before = reads_by_route(edge)
        for i in ids[:10]:
            assert http.get(f"/v1/products/{i}").status_code == 200
    assert reads_by_route(edge).get("replica", 0) - before.get("replica", 0) == 10
