"""Session fixtures: a private MariaDB and Redis on free ports, migrated schemas per service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib

from devstack import dbinit, processes
from devstack.codegen import generate

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if not (ROOT / "build" / "gen" / "api.pb").exists():
        generate()


@dataclass
class MariaDB:
    port: int
    datadir: Path
    process: processes.ManagedProcess

    @property
    def root_url(self) -> str:
        return processes.root_url(self.datadir)

    def service_url(self, schema: str) -> str:
        db = next(d for d in dbinit.dev_service_databases() if d.schema == schema)
        return dbinit.service_url(self.root_url, db, "127.0.0.1", self.port)


@dataclass
class RedisServer:
    port: int
    workdir: Path
    process: processes.ManagedProcess

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        """Starts it again on the same port (for outage tests)."""
        self.process = processes.start_redis(self.port, self.workdir, self.process.log_path)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run")


def start_mariadb(run_dir: Path, name: str = "mariadb") -> MariaDB:
    """A private MariaDB on a free port with every service's schema and user."""
    port = processes.free_port()
    datadir = run_dir / name
    proc = processes.start_mariadb(datadir, port, run_dir / f"{name}.log")
    server = MariaDB(port, datadir, proc)
    dbinit.init_databases(server.root_url, dbinit.dev_service_databases())
    return server


def start_redis(run_dir: Path, name: str = "redis") -> RedisServer:
    port = processes.free_port()
    proc = processes.start_redis(port, run_dir / name, run_dir / f"{name}.log")
    return RedisServer(port, run_dir / name, proc)


@pytest.fixture(scope="session")
def mariadb(run_dir: Path) -> Iterator[MariaDB]:
    server = start_mariadb(run_dir)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def redis_server(run_dir: Path) -> Iterator[RedisServer]:
    server = start_redis(run_dir)
    yield server
    server.process.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis_lib.Redis]:
    if processes.port_in_use(redis_server.port) is False:
        redis_server.start()
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def _no_proxy() -> None:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


MIGRATIONS = {
    "catalog": ROOT / "catalog_service" / "migrations",
    "webhooks": ROOT / "webhook_service" / "migrations",
    "auth": ROOT / "auth_service" / "migrations",
}


@pytest.fixture(scope="session")
def migrated(mariadb: MariaDB) -> MariaDB:
    """Every service's schema migrated to head, as its own user."""
    from farmlokal_common.migrations import upgrade

    for schema, path in MIGRATIONS.items():
        upgrade(path, mariadb.service_url(schema))
    return mariadb
