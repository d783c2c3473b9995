"""Session fixtures for tests through the Envoy edge: the real stack, and Envoy over a stub backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import farmlokal_edge as edge_config
from devstack import processes, services
from devstack.envoy_process import start_envoy
from tests.conftest import MariaDB, RedisServer, start_mariadb, start_redis
from tests.e2e.auth_sandbox import SandboxProcess, start_sandbox
from tests.e2e.stub_backend import StubBackend, start_stub_backend

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
SERVICE_START_TIMEOUT = 60.0


@dataclass
class Edge:
    """A running Envoy in front of some gRPC backends."""

    listen_port: int
    admin_port: int
    config_path: Path
    envoy: processes.ManagedProcess
    plans: dict[str, services.ServicePlan] = field(default_factory=dict)
    processes: dict[str, processes.ManagedProcess] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False)


def start_edge(
    run_dir: Path, name: str, catalog: str, webhook: str, auth: str, **options: object
) -> tuple[edge_config.EdgeConfig, processes.ManagedProcess, Path]:
    cfg = edge_config.EdgeConfig(
        listen_port=processes.free_port(),
        admin_port=processes.free_port(),
        catalog_address=catalog,
        webhook_address=webhook,
        auth_address=auth,
        descriptor_path=DESCRIPTOR,
        **options,
    )
    path = edge_config.write_edge_config(cfg, run_dir / name / "envoy.yaml")
    envoy = start_envoy(path, cfg.admin_port, cfg.listen_port, run_dir / name / "envoy.log")
    return cfg, envoy, path


def _service_plans(mariadb, redis_server) -> dict[str, services.ServicePlan]:
    return {
        name: services.ServicePlan(
            name=name,
            grpc_port=processes.free_port(),
            metrics_port=processes.free_port(),
            database_url=mariadb.service_url(services.SCHEMA[name]),
            redis_url=redis_server.url,
            extra_env=E2E_ENV,
        )
        for name in services.SERVICES
    }


# Settings the e2e tests rely on: short retry schedules, loopback subscribers, a tiny limit on one
# route so 429s can be provoked without slowing every other test.
E2E_ENV = {
    "CATALOG_RATE_LIMITS": "ListCategories=5/60,*=1000/1",
    "WEBHOOK_EVENT_RETRY_DELAYS": "0.2,0.2",
    "WEBHOOK_DELIVERY_RETRY_DELAYS": "0.3,0.3,0.3",
    "WEBHOOK_ALLOW_SUBSCRIBER_NETWORKS": "loopback",
    "WEBHOOK_WORKER_IDLE_SECONDS": "0.05",
    "WEBHOOK_WORKER_MAX_IDLE_SECONDS": "0.2",
}


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@pytest.fixture(scope="session")
def stack_mariadb(run_dir: Path) -> Iterator[MariaDB]:
    """The e2e stack's own MariaDB: its background workers must not meet other tests' rows."""
    server = start_mariadb(run_dir, "e2e-mariadb")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def stack_redis(run_dir: Path) -> Iterator[RedisServer]:
    server = start_redis(run_dir, "e2e-redis")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def sandbox(run_dir: Path) -> Iterator[SandboxProcess]:
    """The stack's OAuth2 provider (python -m sandbox): tokens for the auth service, JWKS for Envoy."""
    server = start_sandbox(run_dir / "e2e", "sandbox")
    yield server
    server.stop()


@contextlib.contextmanager
def running_stack(
    run_dir: Path,
    name: str,
    mariadb: MariaDB,
    redis_server: RedisServer,
    sandbox: SandboxProcess,
    env: dict[str, str] | None = None,
) -> Iterator[Edge]:
    """The three services (migrated, on free ports) behind Envoy, as `make up` runs them.

    `env` adds or overrides service settings (E2E_ENV and the peer addresses are the base).
    """
    plans = _service_plans(mariadb, redis_server)
    peers = {
        **services.peer_env(plans),
        "AUTH_TOKEN_URL": sandbox.token_url,
        "CATALOG_SUPPLIER_BASE_URL": sandbox.url,
        "CATALOG_SUPPLIER_HEALTH_URL": f"{sandbox.url}/healthz",
        **(env or {}),
    }
    started: dict[str, processes.ManagedProcess] = {}
    envoy: processes.ManagedProcess | None = None
    try:
        for plan in plans.values():
            services.migrate(plan, peers)
        for service, plan in plans.items():
            started[service] = services.start(plan, run_dir / name / f"{service}.log", peers)
        for service, plan in plans.items():
            proc = started[service]
            try:
                processes.wait_for_port(plan.grpc_port, SERVICE_START_TIMEOUT, proc.process, service)
            except (RuntimeError, TimeoutError) as error:
                raise RuntimeError(f"{error}; log {proc.log_path}:\n{_tail(proc.log_path)}") from error
        cfg, envoy, path = start_edge(
            run_dir,
            f"{name}-envoy",
            plans["catalog"].address,
            plans["webhook"].address,
            plans["auth"].address,
            jwks_uri=sandbox.jwks_uri,
        )
        yield Edge(cfg.listen_port, cfg.admin_port, path, envoy, plans, started)
    finally:
        if envoy is not None:
            envoy.stop()
        for proc in reversed(list(started.values())):
            proc.stop()


@pytest.fixture(scope="session")
def edge(
    run_dir: Path, stack_mariadb: MariaDB, stack_redis: RedisServer, sandbox: SandboxProcess
) -> Iterator[Edge]:
    """The three services behind Envoy, as `make up` runs them (the e2e suite's stack)."""
    with running_stack(run_dir, "e2e", stack_mariadb, stack_redis, sandbox) as stack:
        yield stack


@dataclass
class StubEdge(Edge):
    backend: StubBackend | None = None


@pytest.fixture(scope="session")
def stub_edge(run_dir: Path, sandbox: SandboxProcess) -> Iterator[StubEdge]:
    """Envoy in front of one in-process stub server playing all three services (canned answers)."""
    backend = start_stub_backend()
    try:
        cfg, envoy, path = start_edge(
            run_dir,
            "stub-envoy",
            backend.address,
            backend.address,
            backend.address,
            jwks_uri=sandbox.jwks_uri,
        )
        try:
            yield StubEdge(cfg.listen_port, cfg.admin_port, path, envoy, backend=backend)
        finally:
            envoy.stop()
    finally:
        backend.stop()


@pytest.fixture(scope="session")
def dead_edge(run_dir: Path) -> Iterator[Edge]:
    """Envoy whose backends are not listening (ports just freed, nothing bound)."""
    closed = [f"127.0.0.1:{processes.free_port()}" for _ in range(3)]
    cfg, envoy, path = start_edge(run_dir, "dead-envoy", *closed)
    try:
        yield Edge(cfg.listen_port, cfg.admin_port, path, envoy)
    finally:
        envoy.stop()
