"""The system on six hosts: an edge, two service hosts (catalog, webhook and auth each), MariaDB, Redis,
and the OAuth provider (the sandbox), every one in a network namespace of its own (tests/distributed/netns.py).

    test (bridge address) ──► edge: Envoy :8080, each cluster = both service hosts
                                 │
                 ┌───────────────┴───────────────┐
            host a: catalog :15051          host b: the same three
                    webhook :15052
                    auth    :15053
                 └──────┬──────────────┬─────────┘
                db: MariaDB :3306   redis: Redis :6379   oauth: sandbox :18090

A service calls the other services of its own host (catalog -> webhook/auth, webhook -> catalog): a
host is a whole replica of the system behind the edge. Every service listens on its host's address
with its default port, as on separate machines.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine

from devstack import dbinit, processes
from devstack.codegen import DESCRIPTOR
from devstack.envoy_process import envoy_argv
from devstack.services import ENV_PREFIX, PACKAGE, SCHEMA, SERVICES
from farmlokal_edge import EdgeConfig, write_edge_config
from farmlokal_edge.config import sandbox_jwks_uri
from tests.distributed.netns import Host, Network

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"catalog": 15051, "webhook": 15052, "auth": 15053}
METRICS_PORTS = {"catalog": 9101, "webhook": 9201, "auth": 9301}
MARIADB_PORT = 3306
REDIS_PORT = 6379
SANDBOX_PORT = 18090
EDGE_PORT = 8080
EDGE_ADMIN_PORT = 9901
SERVICE_HOSTS = ("a", "b")
WEBHOOK_SOURCE = "supplier"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the dev secret of WEBHOOK_SOURCE_SECRETS

# The token's lifetime and the broker's refresh skew: a refresh every ~12 s, several in one run.
TOKEN_EXPIRES_IN = 20
TOKEN_REFRESH_SKEW = 8

# Settings of every service on a service host: quick health reporting, leases that expire soon after
# their worker died, retries soon after a failure (a dead host's open transaction holds row locks
# until the database drops its connection), limits above the test's rate.
SERVICE_ENV = {
    "PYTHONUNBUFFERED": "1",
    "CATALOG_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "WEBHOOK_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "AUTH_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "CATALOG_RATE_LIMITS": "*=10000/1",
    "WEBHOOK_RATE_LIMITS": "*=10000/1",
    "AUTH_RATE_LIMITS": "*=10000/1",
    "WEBHOOK_EVENT_LEASE_SECONDS": "5",
    "WEBHOOK_EVENT_RETRY_DELAYS": "1,2,4,8,15",
    "WEBHOOK_WORKER_IDLE_SECONDS": "0.1",
    # The catalog lets half its 8 serving threads into MySQL at once (its bulkhead) and answers 503
    # after a 50 ms wait for a slot. Four event-worker threads per webhook process (the default) can
    # hold all four slots with their writes, and a host alone carries both hosts' load here, on two
    # cores shared with everything else: the default settings shed listings in this test.
    "WEBHOOK_EVENT_WORKER_THREADS": "2",
    "CATALOG_DB_BULKHEAD_WAIT_SECONDS": "0.5",
    "AUTH_REFRESH_SKEW_SECONDS": str(TOKEN_REFRESH_SKEW),
    "AUTH_PROVIDER_DEADLINE_SECONDS": "3",
    "AUTH_REFRESH_LOCK_TTL_SECONDS": "5",
    "AUTH_REFRESH_LOCK_WAIT_SECONDS": "5",
}


@dataclass
class Cluster:
    network: Network
    run_dir: Path
    db_datadir: Path
    procs: dict[str, processes.ManagedProcess] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        return self.network.hosts[name]

    @property
    def edge_url(self) -> str:
        return f"http://{self.host('edge').address}:{EDGE_PORT}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host('edge').address}:{EDGE_ADMIN_PORT}"

    def database_url(self, service: str) -> str:
        db = next(d for d in dbinit.dev_service_databases() if d.schema == SCHEMA[service])
        return dbinit.service_url("mysql+mysqldb://", db, self.host("db").address, MARIADB_PORT)

    def engine(self, service: str) -> Engine:
        """A connection to a service's schema as its own user, across the network like any client."""
        return create_engine(self.database_url(service), pool_pre_ping=True)

    def endpoint(self, service: str, host: str) -> str:
        return f"{self.host(host).address}:{PORTS[service]}"

    # -- starting things -------------------------------------------------------------------------

    def spawn(self, host: str, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.procs[f"{host}/{name}"] = processes.spawn(
            f"{host}/{name}",
            self.host(host).argv(argv),
            self.run_dir / host / f"{name}.log",
            env=env,
            cwd=ROOT,
        )

    def wait_listening(self, host: str, name: str, port: int, timeout: float = 60) -> None:
        proc = self.procs[f"{host}/{name}"]
        try:
            processes.wait_for_port(
                port, timeout, proc.process, f"{host}/{name}", host=self.host(host).address
            )
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(
                f"{error}; log {proc.log_path}:\n{processes.tail(proc.log_path, 30)}"
            ) from error

    def start_database(self) -> None:
        datadir = self.db_datadir
        datadir.mkdir(parents=True, exist_ok=True)
        subprocess_run(
            [
                processes._binary("mariadb-install-db", "mysql_install_db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ]
        )
        self.spawn(
            "db",
            "mariadb",
            [
                processes._binary("mariadbd", "mysqld"),
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={processes.socket_path(datadir)}",
                f"--port={MARIADB_PORT}",
                f"--bind-address={self.host('db').address}",
                f"--pid-file={datadir / 'mariadbd.pid'}",
                "--skip-name-resolve",
                "--local-infile=1",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=128M",
                "--max-connections=500",
                "--default-time-zone=+00:00",
                "--innodb-flush-log-at-trx-commit=2",
                # A client host that vanished mid-transaction holds its row locks until the server
                # drops its connection: keepalive probes find it gone within 2 + 2 x 1 s.
                "--tcp-keepalive-time=2",
                "--tcp-keepalive-interval=1",
                "--tcp-keepalive-probes=2",
                "--user=root",
            ],
        )
        self.wait_listening("db", "mariadb", MARIADB_PORT)
        # The operator's console on the database host: root over the server's own unix socket.
        dbinit.init_databases(processes.root_url(datadir), dbinit.dev_service_databases())

    def start_redis(self) -> None:
        workdir = self.run_dir / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            processes._binary("redis-server"),
            "--port",
            str(REDIS_PORT),
            "--bind",
            self.host("redis").address,
        ]
        argv += ["--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
        self.spawn("redis", "redis", argv)
        self.wait_listening("redis", "redis", REDIS_PORT)

    def start_provider(self) -> None:
        env = {
            "SANDBOX_HOST": self.host("oauth").address,
            "SANDBOX_PORT": str(SANDBOX_PORT),
            "SANDBOX_OAUTH_EXPIRES_IN": str(TOKEN_EXPIRES_IN),
            "PYTHONUNBUFFERED": "1",
        }
        self.spawn("oauth", "sandbox", [sys.executable, "-m", "sandbox"], env)
        self.wait_listening("oauth", "sandbox", SANDBOX_PORT)

    @property
    def provider_url(self) -> str:
        return f"http://{self.host('oauth').address}:{SANDBOX_PORT}"

    def service_env(self, service: str, host: str) -> dict[str, str]:
        prefix = ENV_PREFIX[service]
        here = self.host(host).address
        return {
            **SERVICE_ENV,
            f"{prefix}GRPC_HOST": here,
            f"{prefix}GRPC_PORT": str(PORTS[service]),
            f"{prefix}METRICS_PORT": str(METRICS_PORTS[service]),
            f"{prefix}DATABASE_URL": self.database_url(service),
            f"{prefix}REDIS_URL": f"redis://{self.host('redis').address}:{REDIS_PORT}/0",
            "CATALOG_AUTH_ADDRESS": f"{here}:{PORTS['auth']}",
            "CATALOG_WEBHOOK_ADDRESS": f"{here}:{PORTS['webhook']}",
            "WEBHOOK_CATALOG_ADDRESS": f"{here}:{PORTS['catalog']}",
            "AUTH_TOKEN_URL": f"{self.provider_url}/oauth/token",
            "CATALOG_OAUTH_HEALTH_URL": f"{self.provider_url}/healthz",
            "CATALOG_SUPPLIER_BASE_URL": self.provider_url,
            "CATALOG_SUPPLIER_HEALTH_URL": f"{self.provider_url}/healthz",
        }

    def run_on(self, host: str, argv: list[str], env: dict[str, str], log_name: str) -> None:
        """A one-shot command on a host (migrations, seeding), its output in the host's log folder."""
        log_path = self.run_dir / host / f"{log_name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            result = subprocess_run(self.host(host).argv(argv), env=env, stdout=log, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{log_name} on {host} failed; {log_path}:\n{processes.tail(log_path, 30)}")

    def migrate_and_seed(self, products: int) -> None:
        for service in SERVICES:
            env = self.service_env(service, "a")
            self.run_on("a", [sys.executable, "-m", PACKAGE[service], "migrate"], env, f"migrate-{service}")
        argv = [sys.executable, "-m", "catalog_service.seed", "--products", str(products), "--reset"]
        self.run_on("a", argv, self.service_env("catalog", "a"), "seed")

    def start_services(self, host: str) -> None:
        for service in SERVICES:
            argv = [sys.executable, "-m", PACKAGE[service]]
            self.spawn(host, service, argv, self.service_env(service, host))
        for service in SERVICES:
            self.wait_listening(host, service, PORTS[service])

    def kill_services(self, host: str) -> None:
        """SIGKILL, no grace: what a machine that died does to its processes."""
        for service in SERVICES:
            proc = self.procs.pop(f"{host}/{service}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.process.wait(timeout=10)

    def start_edge(self) -> None:
        cfg = EdgeConfig(
            listen_port=EDGE_PORT,
            admin_port=EDGE_ADMIN_PORT,
            catalog_address=tuple(self.endpoint("catalog", h) for h in SERVICE_HOSTS),
            webhook_address=tuple(self.endpoint("webhook", h) for h in SERVICE_HOSTS),
            auth_address=tuple(self.endpoint("auth", h) for h in SERVICE_HOSTS),
            descriptor_path=DESCRIPTOR,
            listen_host=self.host("edge").address,
            admin_host=self.host("edge").address,
            jwks_uri=sandbox_jwks_uri(self.host("oauth").address, SANDBOX_PORT),
        )
        path = write_edge_config(cfg, self.run_dir / "edge" / "envoy.yaml")
        self.spawn("edge", "envoy", envoy_argv(path))
        wait_until(lambda: _edge_live(self.admin_url), 30, "the edge LIVE")

    # -- what the edge sees ----------------------------------------------------------------------

    def edge_hosts(self) -> dict[tuple[str, str], dict[str, str]]:
        """(cluster, host name) -> the edge's per-endpoint figures (health_flags, rq_success, ...)."""
        names = {self.host(h).address: h for h in SERVICE_HOSTS}
        text = httpx.get(f"{self.admin_url}/clusters", timeout=2, trust_env=False).text
        hosts: dict[tuple[str, str], dict[str, str]] = {}
        for line in text.splitlines():
            parts = line.split("::")
            if len(parts) != 4 or parts[0] not in PORTS:
                continue
            address = parts[1].rsplit(":", 1)[0]
            if address in names:
                hosts.setdefault((parts[0], names[address]), {})[parts[2]] = parts[3]
        return hosts

    def edge_stats(self, pattern: str) -> dict[str, int]:
        text = httpx.get(
            f"{self.admin_url}/stats", params={"filter": pattern}, timeout=2, trust_env=False
        ).text
        stats = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            with contextlib.suppress(ValueError):
                stats[name] = int(value)
        return stats

    def serving_everywhere(self) -> bool:
        hosts = self.edge_hosts()
        return len(hosts) == len(PORTS) * len(SERVICE_HOSTS) and all(
            h.get("health_flags") == "healthy" for h in hosts.values()
        )


def _edge_live(admin_url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{admin_url}/ready", timeout=1, trust_env=False).text.strip() == "LIVE"
    return False


def subprocess_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("check", True)
    kwargs.setdefault("stderr", subprocess.STDOUT)
    kwargs.setdefault("stdout", subprocess.PIPE)
    env = kwargs.pop("env", None)
    return subprocess.run(argv, env={**os.environ, **env} if env else None, cwd=ROOT, **kwargs)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    raise TimeoutError(f"not {what} within {timeout:.0f}s")


@contextlib.contextmanager
def running_cluster(run_dir: Path, products: int) -> Iterator[Cluster]:
    """Every host started and the edge seeing all six service endpoints healthy; all of it removed after."""
    network = Network()
    cluster = Cluster(network, run_dir, run_dir / "db" / "data")
    try:
        network.create()
        for name in ("edge", "a", "b", "db", "redis", "oauth"):
            network.add_host(name)
        cluster.start_database()
        cluster.start_redis()
        cluster.start_provider()
        cluster.migrate_and_seed(products)
        for host in SERVICE_HOSTS:
            cluster.start_services(host)
        cluster.start_edge()
        wait_until(cluster.serving_everywhere, 60, "every service endpoint healthy at the edge")
        yield cluster
    finally:
        for proc in reversed(list(cluster.procs.values())):
            proc.stop(timeout=5)
        problems = network.destroy()
        if problems:
            print("distributed: cleanup problems:", *problems, sep="\n  ", file=sys.stderr)
