"""Replicated data tier for the dev stack and the test fixtures: a MariaDB GTID replica seeded from
its primary, a Redis replica with three Sentinels, and a three-master Redis Cluster.

MariaDB: the primary runs with a binary log (server id 1); the replica (server id 2, read_only) is
seeded with a physical copy of the primary's data directory taken while the primary is stopped (the
only consistent copy without extra tools), then replicates with MASTER_USE_GTID=slave_pos from the
position that copy holds. A replica whose data directory already exists just starts and resumes.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from devstack import processes
from devstack.processes import ManagedProcess, MariaDBOptions

REPLICATION_USER = "replication"
REPLICATION_PASSWORD = "replication_dev_pw"
PRIMARY_SERVER_ID, REPLICA_SERVER_ID = 1, 2
SENTINEL_MASTER_NAME = "farmlokal"
# Files of a stopped server's data directory that the replica must not inherit.
_NOT_COPIED = ("mariadbd.pid", "mariadb.sock", "master.info", "relay-log.info", "multi-master.info")


def primary_options(base: MariaDBOptions) -> MariaDBOptions:
    return MariaDBOptions(base.buffer_pool, base.durable, server_id=PRIMARY_SERVER_ID, binlog=True)


def replica_options(base: MariaDBOptions) -> MariaDBOptions:
    # A binary log of its own too: it reads the seed's position from the copied one.
    return MariaDBOptions(
        base.buffer_pool, base.durable, server_id=REPLICA_SERVER_ID, binlog=True, read_only=True
    )


def _execute(root_url: str, *statements: str, params: dict[str, object] | None = None) -> list[object]:
    engine = create_engine(root_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            results: list[object] = []
            for statement in statements:
                result = conn.execute(text(statement), params or {})
                results.append(result.mappings().all() if result.returns_rows else None)
            return results
    finally:
        engine.dispose()


def has_binlog(root_url: str) -> bool:
    rows = _execute(root_url, "SELECT @@log_bin AS on_")[0]
    assert isinstance(rows, list)
    return bool(rows[0]["on_"])


def create_replication_user(primary_root_url: str) -> None:
    for host in ("127.0.0.1", "localhost", "%"):
        account = f"'{REPLICATION_USER}'@'{host}'"
        _execute(
            primary_root_url,
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY :pw",
            f"GRANT REPLICATION SLAVE ON *.* TO {account}",
            params={"pw": REPLICATION_PASSWORD},
        )


def seed_datadir(primary_datadir: Path, replica_datadir: Path) -> None:
    """Copies a STOPPED primary's data directory to the replica's (which must not exist)."""
    if replica_datadir.exists():
        raise FileExistsError(f"{replica_datadir} exists: a replica is seeded only once")
    shutil.copytree(
        primary_datadir,
        replica_datadir,
        symlinks=True,
        ignore=lambda _dir, names: [n for n in names if n in _NOT_COPIED or n.startswith("relay-bin")],
    )


def configure_replica(replica_root_url: str, primary_host: str, primary_port: int, from_seed: bool) -> None:
    """Points the replica at the primary by GTID; `from_seed`: start at the copied position."""
    statements = ["STOP SLAVE"]
    if from_seed:
        statements.append("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
    statements += [
        f"CHANGE MASTER TO MASTER_HOST='{primary_host}', MASTER_PORT={int(primary_port)},"
        f" MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{REPLICATION_PASSWORD}',"
        " MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
        "START SLAVE",
    ]
    _execute(replica_root_url, *statements)


@dataclass(frozen=True)
class ReplicaStatus:
    io_running: str
    sql_running: str
    seconds_behind: int | None
    replica_position: str
    primary_position: str
    last_error: str

    @property
    def behind_transactions(self) -> int:
        from farmlokal_common.gtid import streams

        have = streams(self.replica_position)
        return sum(
            max(0, seq - have.get(stream, 0)) for stream, seq in streams(self.primary_position).items()
        )

    def describe(self) -> str:
        threads = (
            "replicating"
            if (self.io_running, self.sql_running) == ("Yes", "Yes")
            else (f"IO thread {self.io_running}, SQL thread {self.sql_running}")
        )
        lag = "?" if self.seconds_behind is None else f"{self.seconds_behind} s"
        text_ = f"{threads}; Seconds_Behind_Master {lag}; {self.behind_transactions} transactions behind"
        return text_ + (f"; error: {self.last_error}" if self.last_error else "")


def replica_status(replica_root_url: str, primary_root_url: str) -> ReplicaStatus:
    rows = _execute(replica_root_url, "SHOW SLAVE STATUS", "SELECT @@gtid_slave_pos AS pos")
    primary = _execute(primary_root_url, "SELECT @@gtid_binlog_pos AS pos")[0]
    status, position = rows[0], rows[1]
    assert isinstance(status, list) and isinstance(position, list) and isinstance(primary, list)
    if not status:
        return ReplicaStatus(
            "No", "No", None, str(position[0]["pos"]), str(primary[0]["pos"]), "not configured"
        )
    row = status[0]
    return ReplicaStatus(
        str(row["Slave_IO_Running"]),
        str(row["Slave_SQL_Running"]),
        row["Seconds_Behind_Master"],
        str(position[0]["pos"]),
        str(primary[0]["pos"]),
        str(row["Last_Error"] or row["Last_IO_Error"] or ""),
    )


def pause(replica_root_url: str) -> None:
    """Stops the replica's SQL thread: it keeps receiving the binary log but applies nothing."""
    _execute(replica_root_url, "STOP SLAVE SQL_THREAD")


def resume(replica_root_url: str) -> None:
    _execute(replica_root_url, "START SLAVE SQL_THREAD")


def wait_caught_up(replica_root_url: str, primary_root_url: str, timeout: float = 30.0) -> None:
    from farmlokal_common.gtid import covers

    deadline = time.monotonic() + timeout
    while True:
        status = replica_status(replica_root_url, primary_root_url)
        if covers(status.replica_position, status.primary_position):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"replica not caught up within {timeout:.0f}s: {status.describe()}")
        time.sleep(0.1)


@dataclass
class MariaDBPair:
    """A primary and its replica, as processes on 127.0.0.1."""

    primary: ManagedProcess
    replica: ManagedProcess
    primary_datadir: Path
    replica_datadir: Path

    @property
    def primary_root_url(self) -> str:
        return processes.root_url(self.primary_datadir)

    @property
    def replica_root_url(self) -> str:
        return processes.root_url(self.replica_datadir)


def start_pair(
    primary_datadir: Path,
    primary_port: int,
    primary_log: Path,
    replica_datadir: Path,
    replica_port: int,
    replica_log: Path,
    options: MariaDBOptions | None = None,
    prepare_primary: Callable[[str], None] = lambda _url: None,
) -> MariaDBPair:
    """Starts the primary with its binary log and the replica beside it, seeding the replica first
    when its data directory does not exist (the test fixtures' pair; `make up` does the same steps
    with pid files, devstack/stack.py). `prepare_primary(root_url)` runs on the primary before it
    is copied (e.g. creating the services' users)."""
    options = options or MariaDBOptions()
    primary = processes.start_mariadb(primary_datadir, primary_port, primary_log, primary_options(options))
    primary_url = processes.root_url(primary_datadir)
    seeding = not replica_datadir.exists()
    if seeding:
        prepare_primary(primary_url)
        create_replication_user(primary_url)
        primary.stop()
        seed_datadir(primary_datadir, replica_datadir)
        primary = processes.start_mariadb(
            primary_datadir, primary_port, primary_log, primary_options(options)
        )
    replica = processes.start_mariadb(replica_datadir, replica_port, replica_log, replica_options(options))
    replica.name = "mariadb-replica"
    if seeding:
        configure_replica(processes.root_url(replica_datadir), "127.0.0.1", primary_port, from_seed=True)
    return MariaDBPair(primary, replica, primary_datadir, replica_datadir)


# ---- Redis: a replica and three Sentinels; a Cluster ---------------------------------------------


def start_redis_replica(port: int, primary_port: int, workdir: Path, log_path: Path) -> ManagedProcess:
    proc = processes.start_redis(port, workdir, log_path, ["--replicaof", "127.0.0.1", str(primary_port)])
    proc.name = "redis-replica"
    return proc


def start_sentinel(
    port: int, primary_port: int, workdir: Path, log_path: Path, down_after_ms: int = 1000
) -> ManagedProcess:
    """One Sentinel watching the primary (quorum 2 of 3). It rewrites its config file as it learns."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "sentinel.conf"
    config.write_text(
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                f"dir {workdir}",
                f"sentinel monitor {SENTINEL_MASTER_NAME} 127.0.0.1 {primary_port} 2",
                f"sentinel down-after-milliseconds {SENTINEL_MASTER_NAME} {down_after_ms}",
                f"sentinel failover-timeout {SENTINEL_MASTER_NAME} 10000",
                f"sentinel parallel-syncs {SENTINEL_MASTER_NAME} 1",
                "",
            ]
        )
    )
    argv = [shutil.which("redis-server") or "/usr/bin/redis-server", str(config), "--sentinel"]
    proc = processes.spawn("sentinel", argv, log_path, port=port)
    processes.wait_for_port(port, 20, proc.process, "sentinel")
    return proc


def start_cluster(ports: Sequence[int], workdir: Path, timeout: float = 30.0) -> list[ManagedProcess]:
    """Masters on `ports` (no replicas), slots spread by redis-cli --cluster create; waits for ok."""
    nodes = []
    try:
        for port in ports:
            node_dir = workdir / f"node-{port}"
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(node_dir / "nodes.conf")]
            # The bus port (default port + 10000) may be taken: a free one of its own.
            extra += ["--cluster-node-timeout", "2000", "--cluster-port", str(processes.free_port())]
            nodes.append(processes.start_redis(port, node_dir, workdir / f"node-{port}.log", extra))
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while True:
            info = subprocess.run(
                ["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True
            ).stdout
            if "cluster_state:ok" in info:
                return nodes
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis Cluster not ok within {timeout:.0f}s: {info}")
            time.sleep(0.1)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
