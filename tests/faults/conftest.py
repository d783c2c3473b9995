"""The fault suite's stack: MariaDB, Redis and the supplier API each behind a fault proxy, the catalog and
auth services, the sandbox and Envoy, all real processes on free ports.

    client ─► Envoy ─► catalog ─┬─► mysql proxy ───► MariaDB
                                ├─► redis proxy ───► Redis
                                ├─► supplier proxy ─► sandbox (supplier API)
                                └─► auth ─► sandbox (OAuth), MariaDB, Redis (direct)

Tests switch a proxy's mode (reset, blackhole, latency) or kill and restart a process, then assert
what a client of the edge sees. Every test leaves the proxies in pass-through and the processes up.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack import dbinit, processes, services
from devstack.fault_proxy import FaultProxy
from tests.conftest import MariaDB, RedisServer, start_mariadb, start_redis
from tests.e2e.auth_sandbox import API_AUDIENCE, SandboxProcess, start_sandbox
from tests.e2e.conftest import SERVICE_START_TIMEOUT, start_edge

PRODUCTS = 3000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection against real processes (make test-faults)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


@dataclass
class CatalogInstance:
    """One catalog process (its own gRPC and metrics ports) behind its own Envoy."""

    plan: services.ServicePlan
    process: processes.ManagedProcess
    envoy: processes.ManagedProcess
    listen_port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def client(self, timeout: float = 20.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.plan.metrics_port}/metrics"
        return httpx.get(url, timeout=5, trust_env=False).text

    def cache_events(self) -> dict[str, float]:
        """farmlokal_cache_events_total of the catalog cache by outcome (hit, miss, degraded, ...)."""
        pattern = r'farmlokal_cache_events_total\{cache="catalog",outcome="(\w+)"\} ([0-9.e+]+)'
        return {outcome: float(value) for outcome, value in re.findall(pattern, self.metrics())}

    def stop(self) -> None:
        self.envoy.stop()
        self.process.stop()


@dataclass
class FaultStack:
    run_dir: Path
    mariadb: MariaDB
    redis: RedisServer
    mysql: FaultProxy
    redis_proxy: FaultProxy
    supplier: FaultProxy
    sandbox: SandboxProcess
    auth: services.ServicePlan
    catalog: CatalogInstance | None = None

    @property
    def edge(self) -> CatalogInstance:
        """The catalog as deployed (response cache on) and its Envoy."""
        assert self.catalog is not None
        return self.catalog

    def catalog_env(self, **overrides: str) -> dict[str, str]:
        """Settings of a catalog process wired through the proxies."""
        return {
            "CATALOG_AUTH_ADDRESS": self.auth.address,
            "CATALOG_WEBHOOK_ADDRESS": f"127.0.0.1:{processes.free_port()}",  # absent: degraded only
            "CATALOG_OUTBOX_RELAY_ENABLED": "false",
            "CATALOG_RATE_LIMITS": "*=100000/1",
            "CATALOG_HEALTH_CHECK_INTERVAL_SECONDS": "1",
            "CATALOG_SUPPLIER_BASE_URL": f"http://{self.supplier.address}",
            "CATALOG_SUPPLIER_HEALTH_URL": f"http://{self.supplier.address}/healthz",
            "CATALOG_SUPPLIER_AUDIENCE": "https://supplier.farmlokal.test",
            "CATALOG_SUPPLIER_SCOPE": "supplier:read",
            "CATALOG_SUPPLIER_MAX_ATTEMPTS": "2",
            "CATALOG_SUPPLIER_BACKOFF_BASE_SECONDS": "0.05",
            "CATALOG_SUPPLIER_CONNECT_TIMEOUT_SECONDS": "0.5",
            "CATALOG_SUPPLIER_READ_TIMEOUT_SECONDS": "1",
            "CATALOG_SUPPLIER_BREAKER_FAIL_MAX": "3",
            "CATALOG_SUPPLIER_BREAKER_RESET_SECONDS": "60",
            **overrides,
        }

    def start_catalog(self, name: str, **overrides: str) -> CatalogInstance:
        """Another catalog process (e.g. CATALOG_CACHE_ENABLED=false) with an Envoy of its own."""
        plan = services.ServicePlan(
            "catalog",
            processes.free_port(),
            processes.free_port(),
            self._catalog_url(),
            f"redis://{self.redis_proxy.address}/0",
        )
        env = self.catalog_env(**overrides)
        proc = services.start(plan, self.run_dir / f"{name}.log", env)
        try:
            _wait_for(plan.grpc_port, proc)
            cfg, envoy, _ = start_edge(
                self.run_dir,
                f"{name}-envoy",
                plan.address,
                env["CATALOG_WEBHOOK_ADDRESS"],
                self.auth.address,
                jwks_uri=self.sandbox.jwks_uri,
            )
        except BaseException:
            proc.stop()
            raise
        instance = CatalogInstance(plan, proc, envoy, cfg.listen_port)
        _wait_until(lambda: _answers(instance), 30, f"{name} answering through Envoy")
        return instance

    def admin_headers(self) -> dict[str, str]:
        token = self.sandbox.token(scope="catalog:admin", audience=API_AUDIENCE)
        return {"authorization": f"Bearer {token}"}

    def _catalog_url(self) -> str:
        db = next(d for d in dbinit.dev_service_databases() if d.schema == "catalog")
        return dbinit.service_url(self.mariadb.root_url, db, "127.0.0.1", self.mysql.port)


def _answers(instance: CatalogInstance) -> bool:
    with contextlib.suppress(httpx.HTTPError), instance.client(timeout=2) as http:
        return http.get("/v1/products", params={"limit": "1"}).status_code == 200
    return False


def _wait_for(port: int, proc: processes.ManagedProcess) -> None:
    try:
        processes.wait_for_port(port, SERVICE_START_TIMEOUT, proc.process, proc.name)
    except (RuntimeError, TimeoutError) as error:
        tail = "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{error}; log {proc.log_path}:\n{tail}") from error


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"not {what} within {timeout:.0f}s")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Polls condition; returns the seconds it took, fails the test after timeout."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"not {what} within {timeout:.0f}s")


@pytest.fixture(scope="session")
def fault_stack(run_dir: Path) -> Iterator[FaultStack]:
    base = run_dir / "faults"
    base.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        mariadb = start_mariadb(base, "mariadb")
        cleanup.callback(lambda: mariadb.process.stop())
        redis_server = start_redis(base, "redis")
        cleanup.callback(lambda: redis_server.process.stop())
        sandbox = start_sandbox(base, "sandbox")
        cleanup.callback(sandbox.stop)
        mysql = cleanup.enter_context(FaultProxy("127.0.0.1", mariadb.port))
        redis_proxy = cleanup.enter_context(FaultProxy("127.0.0.1", redis_server.port))
        supplier = cleanup.enter_context(FaultProxy("127.0.0.1", sandbox.port))

        auth = services.ServicePlan(
            "auth",
            processes.free_port(),
            processes.free_port(),
            mariadb.service_url("auth"),
            redis_server.url,
        )
        catalog_direct = services.ServicePlan(
            "catalog", 0, 0, mariadb.service_url("catalog"), redis_server.url
        )
        services.migrate(catalog_direct)
        services.migrate(auth, {"AUTH_TOKEN_URL": sandbox.token_url})
        services.seed(catalog_direct, PRODUCTS, base / "seed.log")
        auth_proc = services.start(auth, base / "auth.log", {"AUTH_TOKEN_URL": sandbox.token_url})
        cleanup.callback(auth_proc.stop)
        _wait_for(auth.grpc_port, auth_proc)

        stack = FaultStack(base, mariadb, redis_server, mysql, redis_proxy, supplier, sandbox, auth)
        stack.catalog = stack.start_catalog("catalog")
        cleanup.callback(stack.catalog.stop)
        yield stack


@pytest.fixture
def stack(fault_stack: FaultStack) -> Iterator[FaultStack]:
    """The shared stack, put back to normal after each test whatever the test did."""
    yield fault_stack
    for proxy in (fault_stack.mysql, fault_stack.redis_proxy, fault_stack.supplier):
        proxy.pass_through()
    if not processes.port_in_use(fault_stack.redis.port):
        fault_stack.redis.start()
    db = fault_stack.mariadb
    if not processes.port_in_use(db.port):
        db.process = processes.start_mariadb(db.datadir, db.port, db.process.log_path)
    _wait_until(lambda: _answers(fault_stack.edge), 30, "the catalog answering again after the test")
