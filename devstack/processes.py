"""Starts and stops private MariaDB, Redis and other local processes (dev stack and test fixtures)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port that is free now, below the kernel's ephemeral range (port 0 would hand out one from
    that range, which any outgoing connection may take before the caller's server binds it), and
    never handed out twice by this process."""
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(20000, high) if high > 20000 else 0
        with _handed_out_lock:
            if port in _handed_out:
                continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen = int(sock.getsockname()[1])
        with _handed_out_lock:
            _handed_out.add(chosen)
        return chosen
    raise RuntimeError("no free port found below the ephemeral range")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    name: str = "process",
    host: str = "127.0.0.1",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before listening on {port}")
        if port_in_use(port, host):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not listen on {host}:{port} within {timeout:.0f}s")


@dataclass
class ManagedProcess:
    """A child process with its log file; stop() terminates it and its process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 15.0) -> None:
        stop_pid(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after timeout."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int = 0,
) -> ManagedProcess:
    """Starts argv in its own session (so stop() reaches its children), output to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return ManagedProcess(name, process, log_path, port)


def tail(path: Path, lines: int) -> str:
    """The last lines of a log, for error messages and `make logs`."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} does not exist)"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
        )
        if found:
            return found
    raise FileNotFoundError(f"none of {', '.join(names)} is installed (make up installs them)")


@dataclass(frozen=True)
class MariaDBOptions:
    buffer_pool: str = "256M"
    durable: bool = False
    # Replication (devstack/replication.py): a server id, a binary log (GTIDs), read_only for replicas.
    server_id: int = 0
    binlog: bool = False
    read_only: bool = False

    def replication_args(self) -> list[str]:
        # Relative names: a data directory copied to seed a replica keeps pointing at its own files.
        return [
            *([f"--server-id={self.server_id}"] if self.server_id else []),
            *(
                ["--log-bin=mariadb-bin", "--relay-log=relay-bin", "--binlog-format=MIXED"]
                if self.binlog
                else []
            ),
            *(["--read-only=1"] if self.read_only else []),
        ]


def start_mariadb(
    datadir: Path, port: int, log_path: Path, options: MariaDBOptions = MariaDBOptions()
) -> ManagedProcess:
    """A private MariaDB on 127.0.0.1:port with its own data directory; root has no password."""
    datadir.mkdir(parents=True, exist_ok=True)
    if not (datadir / "mysql").exists():
        subprocess.run(
            [
                _binary("mariadb-install-db", "mysql_install_db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *_as_root(),
            ],
            check=True,
            capture_output=True,
        )
    argv = [
        _binary("mariadbd", "mysqld"),
        "--no-defaults",
        f"--datadir={datadir}",
        f"--socket={socket_path(datadir)}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--pid-file={datadir / 'mariadbd.pid'}",
        "--skip-name-resolve",
        "--local-infile=1",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        f"--innodb-buffer-pool-size={options.buffer_pool}",
        "--max-connections=500",
        "--innodb-ft-min-token-size=3",
        "--default-time-zone=+00:00",
        f"--innodb-flush-log-at-trx-commit={1 if options.durable else 2}",
        *options.replication_args(),
        *_as_root(),
    ]
    proc = spawn("mariadb", argv, log_path, port=port)
    wait_for_port(port, 60, proc.process, "mariadb")
    return proc


def socket_path(datadir: Path) -> Path:
    return datadir / "mariadb.sock"


def root_url(datadir: Path) -> str:
    """SQLAlchemy URL for the private server's root over its unix socket."""
    return f"mysql+mysqldb://root@localhost/?unix_socket={socket_path(datadir)}&charset=utf8mb4"


def start_redis(port: int, workdir: Path, log_path: Path, extra: Sequence[str] = ()) -> ManagedProcess:
    """A private Redis on 127.0.0.1:port, no persistence: it holds only what may be lost. `extra`
    adds options (a replica's --replicaof, a cluster node's --cluster-enabled)."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        _binary("redis-server"),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "yes",
        *extra,
    ]
    proc = spawn("redis", argv, log_path, port=port)
    wait_for_port(port, 20, proc.process, "redis")
    return proc


def _as_root() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []
