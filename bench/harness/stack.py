"""The harness's own stack on free ports under a run directory: MariaDB, Redis, the services, Envoy.

Two catalog instances share the database: one as deployed (response cache on) behind the edge, one
with CATALOG_CACHE_ENABLED=false for the uncached scenarios; both serve metrics (a port per worker).
Every process is kept under a label (`labelled`) for B9's CPU accounting. Envoys and the references
are started by bench.harness.edges and bench.harness.reference_node.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness.target import Target
from devstack import dbinit, processes, services
from devstack.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
# The limiter stays in the request path (its Redis call is part of the cost) but never rejects.
BENCH_RATE_LIMITS = "*=1000000/1"
# The webhook service's default (dev) secret for source `supplier`, set explicitly so B6 signs with it.
WEBHOOK_SOURCE = "supplier"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
Say = Callable[[str], None]


class StackError(RuntimeError):
    """A component did not start; the message names its log."""


@dataclass(frozen=True)
class SeedResult:
    products: int
    seconds: float
    command: list[str]
    output_tail: str


class OwnStack:
    """Start with start_infra(), seed(), start_services(); stop() always, even after a failure."""

    def __init__(self, run_dir: Path, catalog_workers: int, say: Say = print) -> None:
        self.run_dir = run_dir
        self.catalog_workers = catalog_workers
        self.say = say
        self.processes: list[ManagedProcess] = []
        self.datadir = run_dir / "mariadb"
        self.plans: dict[str, services.ServicePlan] = {}
        self.extra_env: dict[str, str] = {}
        self.target: Target | None = None
        self.sandbox_url: str | None = None
        self.labelled: dict[str, ManagedProcess] = {}  # label -> process (B9 samples their CPU)
        self.metrics: dict[str, int] = {}  # catalog instance label -> worker 0's metrics port

    def keep(self, label: str, proc: ManagedProcess) -> ManagedProcess:
        """Tracks a process for stop() and under a label for B9."""
        self.processes.append(proc)
        self.labelled[label] = proc
        return proc

    def log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def start_infra(self) -> None:
        db_port, redis_port = free_port(), free_port()
        self.say(f"stack: mariadb on {db_port} (buffer pool 2G), redis on {redis_port}, under {self.run_dir}")
        options = processes.MariaDBOptions(buffer_pool="2G")
        self.keep("mariadb", processes.start_mariadb(self.datadir, db_port, self.log("mariadb"), options))
        self.keep("redis", processes.start_redis(redis_port, self.run_dir / "redis", self.log("redis")))
        root = processes.root_url(self.datadir)
        databases = {db.schema: db for db in dbinit.dev_service_databases()}
        dbinit.init_databases(root, list(databases.values()))
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        schema = {"catalog": "catalog", "webhook": "webhooks", "auth": "auth"}
        for name in ("catalog", "webhook", "auth"):
            url = dbinit.service_url(root, databases[schema[name]], "127.0.0.1", db_port)
            workers = self.catalog_workers if name in ("catalog", "webhook") else 1  # production runs several
            metrics = free_port_block(workers) if name == "catalog" else 0
            own = free_port_block(workers) if workers > 1 else 0  # one edge endpoint per worker
            self.plans[name] = services.ServicePlan(
                name, free_port(), metrics, url, redis_url, workers, worker_port_base=own
            )
        self.sandbox_url = self._start_sandbox()
        self.extra_env = {
            **services.peer_env(self.plans),
            "CATALOG_RATE_LIMITS": BENCH_RATE_LIMITS,
            "WEBHOOK_RATE_LIMITS": BENCH_RATE_LIMITS,
            "AUTH_RATE_LIMITS": BENCH_RATE_LIMITS,
            "WEBHOOK_SOURCE_SECRETS": f"{WEBHOOK_SOURCE}={WEBHOOK_SECRET}",
            # The stack's own OAuth2 provider, never the dev stack's sandbox on 18090.
            "AUTH_TOKEN_URL": f"{self.sandbox_url}/oauth/token",
            "CATALOG_SUPPLIER_HEALTH_URL": f"{self.sandbox_url}/healthz",
            "CATALOG_SUPPLIER_BASE_URL": self.sandbox_url,
        }
        for name, plan in self.plans.items():
            self.say(f"stack: migrating {name}")
            services.migrate(plan, self.extra_env)

    def _start_sandbox(self) -> str:
        """`python -m sandbox` (OAuth2 provider with test controls, supplier API) on a free port."""
        port = free_port()
        self.say(f"stack: starting the sandbox (OAuth2 provider) on {port}")
        env = {"SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": str(port), "PYTHONUNBUFFERED": "1"}
        proc = processes.spawn(
            "sandbox", [sys.executable, "-m", "sandbox"], self.log("sandbox"), env=env, cwd=ROOT, port=port
        )
        self.keep("sandbox", proc)
        try:
            processes.wait_for_port(port, 30, proc.process, "sandbox")
        except (RuntimeError, TimeoutError) as error:
            raise StackError(f"{error}; see {self.log('sandbox')}:\n{_tail(self.log('sandbox'))}") from None
        return f"http://127.0.0.1:{port}"

    def start_auth_replicas(self, count: int) -> list[str]:
        """More auth processes, each on its own port, with the same database, Redis and provider."""
        base = self.plans["auth"]
        addresses = []
        for index in range(count):
            plan = services.ServicePlan(
                "auth", free_port(), 0, base.database_url, base.redis_url, 1, dict(base.extra_env)
            )
            self._start_service(f"auth-replica-{index + 1}", plan)
            addresses.append(plan.address)
        return addresses

    def database_url(self, service: str) -> str:
        return self.plans[service].database_url

    def seed(self, products: int) -> SeedResult:
        """`python -m catalog_service.seed --reset`, timed from start to exit (B5)."""
        command = [sys.executable, "-m", "catalog_service.seed", "--reset", "--products", str(products)]
        env = {**self.plans["catalog"].env(), **self.extra_env, "SEED_PRODUCTS": str(products)}
        self.say(f"stack: seeding {products:,} products ({' '.join(command[1:])})")
        log_path = self.log("seed")
        started = time.monotonic()
        with open(log_path, "wb") as log:
            result = subprocess.run(
                command, env=_environ(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        seconds = time.monotonic() - started
        tail = _tail(log_path)
        if result.returncode != 0:
            raise StackError(f"seeding failed (exit {result.returncode}); {log_path}:\n{tail}")
        return SeedResult(products, seconds, command, tail)

    def start_services(self) -> Target:
        catalog = self.plans["catalog"]
        uncached = services.ServicePlan(
            "catalog",
            free_port(),
            free_port_block(self.catalog_workers),
            catalog.database_url,
            catalog.redis_url,
            self.catalog_workers,
            {"CATALOG_CACHE_ENABLED": "false"},
            worker_port_base=free_port_block(self.catalog_workers) if self.catalog_workers > 1 else 0,
        )
        for label, plan in (("catalog", catalog), ("catalog-uncached", uncached)):
            self._start_service(label, plan)
        self.plans["catalog-uncached"] = uncached
        optional = {}
        for name in ("webhook", "auth"):
            try:
                self._start_service(name, self.plans[name])
                optional[name] = self.plans[name].address
            except StackError as error:
                self.say(f"stack: {name} did not start, its scenarios will say so ({error})")
        from bench.harness.edges import start_edge

        rest_url = start_edge(self, "edge", catalog.edge_addresses, optional)
        auth = optional.get("auth")
        self.target = Target(
            rest_url=rest_url,
            catalog_grpc=catalog.address,
            uncached_grpc=uncached.address,
            webhook_grpc=optional.get("webhook"),
            auth_grpc=auth,
            auth_replicas=(auth,) if auth else (),
            sandbox_url=self.sandbox_url,
            own_stack=True,
            catalog_workers=self.catalog_workers,
        )
        return self.target

    def _start_service(self, label: str, plan: services.ServicePlan) -> None:
        self.say(f"stack: starting {label} on {plan.address} ({plan.workers} worker(s))")
        proc = self.keep(label, services.start(plan, self.log(label), self.extra_env))
        if plan.name == "catalog" and plan.metrics_port:
            self.metrics[label] = plan.metrics_port
        wait_serving(plan.address, proc, self.log(label))

    def stop(self, keep_data: bool = False) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=20)
        self.processes.clear()
        self.labelled.clear()
        if not keep_data:
            shutil.rmtree(self.datadir, ignore_errors=True)


def wait_serving(address: str, proc: ManagedProcess, log: Path, timeout: float = 60.0) -> None:
    """Until the gRPC health service answers SERVING; fails early if the process exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise StackError(f"exited with code {proc.process.returncode}; see {log}:\n{_tail(log)}")
        with grpc.insecure_channel(address) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
            except grpc.RpcError as error:
                last = str(error.code())
        time.sleep(0.2)
    raise StackError(f"{address} not SERVING within {timeout:.0f}s (last: {last}); see {log}")


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free ports (a service's workers take metrics port + index)."""
    for _ in range(50):
        first = free_port()
        if all(not processes.port_in_use(first + i) for i in range(1, count)):
            return first
    raise StackError(f"no {count} consecutive free ports found")


def _environ(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
