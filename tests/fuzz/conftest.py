"""The fuzz suite's stack: the three services, the sandbox and Envoy, with a MariaDB and Redis of their own
(fuzzed writes must not meet other tests' rows), built like the e2e `edge` fixture.

Nothing the fuzzer sends can leave the machine: the catalog's outbox relay is off (no outbound
deliveries) and the supplier API is the sandbox's, with a small data set (a sync that fetched nothing
because the supplier failed is a 503, which the fuzzer would rightly call a server error).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import processes, services
from tests.conftest import start_mariadb, start_redis
from tests.e2e.auth_sandbox import API_AUDIENCE, start_sandbox
from tests.e2e.conftest import SERVICE_START_TIMEOUT, Edge, start_edge

PRODUCTS = 500
FUZZ_ENV = {
    "CATALOG_RATE_LIMITS": "*=100000/1",
    "WEBHOOK_RATE_LIMITS": "*=100000/1",
    "AUTH_RATE_LIMITS": "*=100000/1",
    "CATALOG_OUTBOX_RELAY_ENABLED": "false",
    "CATALOG_SUPPLIER_MAX_ATTEMPTS": "1",
    "CATALOG_SUPPLIER_BREAKER_FAIL_MAX": "2",
}


@dataclass(frozen=True)
class FuzzTarget:
    edge: Edge
    admin_token: str  # catalog:admin and webhooks:admin, from the sandbox provider the edge trusts

    @property
    def base_url(self) -> str:
        return self.edge.base_url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: OpenAPI fuzzing through the edge (make fuzz for a long run)")


@pytest.fixture(scope="session")
def fuzz_target(run_dir: Path) -> Iterator[FuzzTarget]:
    base = run_dir / "fuzz"
    mariadb = start_mariadb(base, "mariadb")
    redis_server = start_redis(base, "redis")
    sandbox = start_sandbox(base, "sandbox", env={"SANDBOX_SUPPLIER_PRODUCT_COUNT": "50"})
    plans = {
        name: services.ServicePlan(
            name,
            processes.free_port(),
            0,  # no metrics port: nothing here reads it, and one free port fewer to race for
            mariadb.service_url(services.SCHEMA[name]),
            redis_server.url,
            extra_env=FUZZ_ENV,
        )
        for name in services.SERVICES
    }
    peers = {
        **services.peer_env(plans),
        "AUTH_TOKEN_URL": sandbox.token_url,
        "CATALOG_SUPPLIER_BASE_URL": sandbox.url,
        "CATALOG_SUPPLIER_HEALTH_URL": f"{sandbox.url}/healthz",
    }
    started: list[processes.ManagedProcess] = [mariadb.process, redis_server.process, sandbox.process]
    try:
        for plan in plans.values():
            services.migrate(plan, peers)
        services.seed(plans["catalog"], PRODUCTS, base / "seed.log")
        for name, plan in plans.items():
            started.append(services.start(plan, base / f"{name}.log", peers))
        for proc, plan in zip(started[3:], plans.values(), strict=True):
            processes.wait_for_port(plan.grpc_port, SERVICE_START_TIMEOUT, proc.process, plan.name)
        cfg, envoy, path = start_edge(
            base,
            "envoy",
            plans["catalog"].address,
            plans["webhook"].address,
            plans["auth"].address,
            jwks_uri=sandbox.jwks_uri,
        )
        started.append(envoy)
        token = sandbox.token(scope="catalog:admin webhooks:admin", audience=API_AUDIENCE)
        yield FuzzTarget(Edge(cfg.listen_port, cfg.admin_port, path, envoy, plans), token)
    finally:
        for proc in reversed(started):
            proc.stop()
