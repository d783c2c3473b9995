"""The replicated data tier as test fixtures start it: a MariaDB primary with a GTID replica, a Redis
primary with a replica and three Sentinels, a three-master Redis Cluster (devstack/replication.py)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib
from sqlalchemy import create_engine, text

from devstack import dbinit, processes, replication, services
from tests.conftest import MariaDB, RedisServer

PREFIXES = tuple(services.ENV_PREFIX.values())


@dataclass
class ReplicatedMariaDB:
    primary: MariaDB
    replica: MariaDB

    def pause(self) -> None:
        replication.pause(self.replica.root_url)

    def resume(self) -> None:
        replication.resume(self.replica.root_url)

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        replication.wait_caught_up(self.replica.root_url, self.primary.root_url, timeout)

    def kill_replica(self) -> None:
        self.replica.process.process.kill()
        self.replica.process.process.wait(10)

    def start_replica(self) -> None:
        options = replication.replica_options(processes.MariaDBOptions())
        self.replica.process = processes.start_mariadb(
            self.replica.datadir, self.replica.port, self.replica.process.log_path, options
        )

    def stop(self) -> None:
        self.replica.process.stop()
        self.primary.process.stop()


def com_select(server: MariaDB) -> int:
    """SELECT statements the server has run (Com_select), to count reads per server."""
    engine = create_engine(server.root_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW GLOBAL STATUS LIKE 'Com_select'")).one()[1])
    finally:
        engine.dispose()


def start_replicated_mariadb(run_dir: Path, name: str) -> ReplicatedMariaDB:
    """A primary with every service's schema and user, and its replica (replicating, read_only)."""
    pp, rp = processes.free_port(), processes.free_port()
    pair = replication.start_pair(
        run_dir / f"{name}-primary",
        pp,
        run_dir / f"{name}-primary.log",
        run_dir / f"{name}-replica",
        rp,
        run_dir / f"{name}-replica.log",
        prepare_primary=lambda url: dbinit.init_databases(url, dbinit.dev_service_databases()),
    )
    return ReplicatedMariaDB(
        MariaDB(pp, pair.primary_datadir, pair.primary), MariaDB(rp, pair.replica_datadir, pair.replica)
    )


@dataclass
class SentinelRedis:
    """A Redis primary, its replica and three Sentinels (quorum 2, master down after 1 s)."""

    primary: RedisServer
    replica: RedisServer
    sentinels: list[processes.ManagedProcess] = field(default_factory=list)

    @property
    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def service_env(self) -> dict[str, str]:
        """What every service needs to take its Redis from these Sentinels."""
        env = {}
        for prefix in PREFIXES:
            env[f"{prefix}REDIS_SENTINELS"] = self.hosts
            env[f"{prefix}REDIS_MASTER_NAME"] = replication.SENTINEL_MASTER_NAME
        return env

    def master_port(self) -> int | None:
        """The master's port as the Sentinels' majority names it."""
        named = []
        for sentinel in self.sentinels:
            with contextlib.suppress(redis_lib.RedisError):
                client = redis_lib.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
                address = client.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", replication.SENTINEL_MASTER_NAME
                )
                client.close()
                if address:
                    named.append(int(address[1]))
        return max(set(named), key=named.count) if named else None

    def wait_replicating(self, timeout: float = 20.0) -> None:
        """Until the replica is in sync and every Sentinel knows both and each other."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis_lib.RedisError):
                info = redis_lib.Redis(port=self.replica.port, socket_timeout=1).info("replication")
                states = [
                    redis_lib.Redis(port=s.port, socket_timeout=1, decode_responses=True).sentinel_master(
                        replication.SENTINEL_MASTER_NAME
                    )
                    for s in self.sentinels
                ]
                if info.get("master_link_status") == "up" and all(
                    int(s["num-slaves"]) >= 1 and int(s["num-other-sentinels"]) >= 2 for s in states
                ):
                    return
            time.sleep(0.2)
        raise TimeoutError("Redis replica and Sentinels not ready")

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica.process, self.primary.process):
            process.stop()


def start_sentinel_redis(run_dir: Path, name: str) -> SentinelRedis:
    pp, rp = processes.free_port(), processes.free_port()
    primary = RedisServer(
        pp,
        run_dir / f"{name}-primary",
        processes.start_redis(pp, run_dir / f"{name}-primary", run_dir / f"{name}-primary.log"),
    )
    replica_proc = replication.start_redis_replica(
        rp, pp, run_dir / f"{name}-replica", run_dir / f"{name}-replica.log"
    )
    tier = SentinelRedis(primary, RedisServer(rp, run_dir / f"{name}-replica", replica_proc))
    try:
        _start_sentinels(tier, run_dir, name, pp)
    except BaseException:
        tier.stop()
        raise
    return tier


def _start_sentinels(tier: SentinelRedis, run_dir: Path, name: str, primary_port: int) -> None:
    for index in range(3):
        port = processes.free_port()
        workdir = run_dir / f"{name}-sentinel-{index}"
        tier.sentinels.append(
            replication.start_sentinel(port, primary_port, workdir, run_dir / f"{name}-sentinel-{index}.log")
        )
    tier.wait_replicating()
