"""The local dev stack behind `make up/down/status/logs`: background processes tracked by pid files.

Everything lives under the run directory (default .run/): pids/NAME.pid, logs/NAME.log, mariadb/,
redis/, envoy/. A component counts as running when its pid file names a live process whose command
line carries the component's marker, so a recycled pid is not mistaken for ours. Processes start in
their own session (processes.spawn), so they outlive the `make up` that started them: nothing here
keeps or stops a ManagedProcess after writing its pid file (Popen never kills a child it drops).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.exc import SQLAlchemyError

from devstack import codegen, dbinit, processes, replication, services
from devstack.envoy_process import start_envoy
from devstack.processes import tail
from farmlokal_common.settings import DEV_MARIADB_PORT, DEV_REDIS_PORT, DEV_SANDBOX_PORT, dev_database_url
from farmlokal_edge import EdgeConfig, write_edge_config
from farmlokal_edge.config import sandbox_jwks_uri
from farmlokal_edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parent.parent
SERVICE_NAMES = ("auth", "webhook", "catalog")
COMPONENTS = ("mariadb", "redis", "sandbox", *SERVICE_NAMES, "envoy")
# The replicated data tier (FARMLOKAL_MARIADB_REPLICA=1, FARMLOKAL_REDIS_HA=1): started after their
# primaries, stopped before them.
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
TIER_COMPONENTS = ("mariadb-replica", "redis-replica", *SENTINELS)
# A substring of /proc/PID/cmdline that only our process of that component has.
MARKERS = {
    "mariadb": "mariadbd",
    "redis": "redis-server",
    "sandbox": "-m sandbox",
    "auth": "-m auth_service",
    "webhook": "-m webhook_service",
    "catalog": "-m catalog_service",
    "envoy": "envoy-keeper",
    "mariadb-replica": "mariadbd",
    "redis-replica": "redis-server",
    **{name: "[sentinel]" for name in SENTINELS},
}
TRUE = ("1", "true", "yes", "on")


class StackError(RuntimeError):
    """Something the developer must act on; the message says what and where to look."""


@dataclass(frozen=True)
class PortSetting:
    env_var: str
    port: int
    role: str


@dataclass(frozen=True)
class StackConfig:
    """Ports and places of the dev stack. Service ports use the services' own settings names."""

    run_dir: Path
    ports: dict[str, tuple[PortSetting, ...]] = field(default_factory=dict)
    mariadb_buffer_pool: str = "2G"
    health_timeout: float = 120.0
    mariadb_replica: bool = False
    redis_ha: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackConfig:
        def port(env_var: str, default: int, role: str) -> PortSetting:
            raw = env.get(env_var, "").strip()
            if raw and not raw.isdigit():
                raise StackError(f"{env_var}={raw!r} is not a port number")
            return PortSetting(env_var, int(raw) if raw else default, role)

        ports = {
            "mariadb": (port("FARMLOKAL_MARIADB_PORT", DEV_MARIADB_PORT, "sql"),),
            "redis": (port("FARMLOKAL_REDIS_PORT", DEV_REDIS_PORT, "redis"),),
            "sandbox": (port("FARMLOKAL_SANDBOX_PORT", DEV_SANDBOX_PORT, "http"),),
            "auth": (port("AUTH_GRPC_PORT", 15053, "grpc"), port("AUTH_METRICS_PORT", 9301, "metrics")),
            "webhook": (
                port("WEBHOOK_GRPC_PORT", 15052, "grpc"),
                port("WEBHOOK_METRICS_PORT", 9201, "metrics"),
            ),
            "catalog": (
                port("CATALOG_GRPC_PORT", 15051, "grpc"),
                port("CATALOG_METRICS_PORT", 9101, "metrics"),
            ),
            "envoy": (
                port("FARMLOKAL_EDGE_PORT", 8080, "http"),
                port("FARMLOKAL_EDGE_ADMIN_PORT", 9901, "admin"),
            ),
            "mariadb-replica": (port("FARMLOKAL_MARIADB_REPLICA_PORT", 13307, "sql"),),
            "redis-replica": (port("FARMLOKAL_REDIS_REPLICA_PORT", 16380, "redis"),),
        }
        first_sentinel = port("FARMLOKAL_REDIS_SENTINEL_PORT", 26379, "sentinel")
        for index, name in enumerate(SENTINELS):
            ports[name] = (PortSetting(first_sentinel.env_var, first_sentinel.port + index, "sentinel"),)
        return cls(
            run_dir=ROOT / (env.get("FARMLOKAL_RUN_DIR") or ".run"),
            ports=ports,
            mariadb_buffer_pool=env.get("FARMLOKAL_MARIADB_BUFFER_POOL") or "2G",
            health_timeout=float(env.get("FARMLOKAL_UP_TIMEOUT") or 120),
            mariadb_replica=env.get("FARMLOKAL_MARIADB_REPLICA", "").strip().lower() in TRUE,
            redis_ha=env.get("FARMLOKAL_REDIS_HA", "").strip().lower() in TRUE,
        )

    def components(self) -> tuple[str, ...]:
        """Every component this configuration runs, in start order."""
        tier = [
            *(["mariadb-replica"] if self.mariadb_replica else []),
            *(["redis-replica", *SENTINELS] if self.redis_ha else []),
        ]
        return ("mariadb", "redis", *tier, "sandbox", *SERVICE_NAMES, "envoy")

    def sentinel_hosts(self) -> str:
        return ",".join(f"127.0.0.1:{self.port(name)}" for name in SENTINELS)

    def port(self, component: str) -> int:
        """The component's main port (the first listed)."""
        return self.ports[component][0].port

    def pid_file(self, component: str) -> Path:
        return self.run_dir / "pids" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"


def process_running(pid: int, marker: str) -> bool:
    """True if pid is a live (not zombie) process whose command line contains marker."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker in cmdline.replace(b"\0", b" ").decode(errors="replace")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def running_pid(cfg: StackConfig, component: str) -> int | None:
    """The pid of our running process for component; a stale pid file is removed."""
    path = cfg.pid_file(component)
    pid = read_pid(path)
    if pid is not None and process_running(pid, MARKERS[component]):
        return pid
    path.unlink(missing_ok=True)
    return None


def write_pid(cfg: StackConfig, component: str, pid: int) -> None:
    path = cfg.pid_file(component)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def port_conflicts(
    cfg: StackConfig,
    components: Iterable[str],
    in_use: Callable[[int], bool] = processes.port_in_use,
) -> list[str]:
    """One message per port that a component about to start would need but something else holds."""
    return [
        f"port {setting.port} ({component} {setting.role}) is already in use by another process: "
        f"stop that process or choose another port with {setting.env_var}"
        for component in components
        for setting in cfg.ports[component]
        if in_use(setting.port)
    ]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, children that forked included."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, timeout: float) -> bool:
    """SIGTERM the group, SIGKILL what is left after timeout. True if it had to kill."""
    if _signal_and_wait(pgid, signal.SIGTERM, timeout):
        return False
    if not _signal_and_wait(pgid, signal.SIGKILL, 5.0):
        raise StackError(f"process group {pgid} survived SIGKILL")
    return True


def _signal_and_wait(pgid: int, sig: signal.Signals, timeout: float) -> bool:
    """Sends sig to the group; True once no live member is left within timeout."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_component(cfg: StackConfig, component: str, timeout: float = 20.0) -> str:
    """Stops our process for component (its whole group) and removes its pid file."""
    pid = running_pid(cfg, component)
    if pid is None:
        return "not running"
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = pid
    killed = stop_group(pgid, timeout)
    cfg.pid_file(component).unlink(missing_ok=True)
    return f"stopped (pid {pid}{', killed after timeout' if killed else ''})"


def _say(message: str) -> None:
    print(message, flush=True)


def load_dotenv(path: Path, env: dict[str, str]) -> None:
    """KEY=VALUE lines from .env into env, never overriding what the shell already set."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        env.setdefault(key.strip(), value.strip().strip("'\""))


# With *_WORKERS > 1, worker i of a service also listens on its base + i and the edge lists each
# worker as an endpoint (farmlokal_common.settings: worker_port_base); up to 99 workers a service.
WORKER_PORT_BASE = {"catalog": 15100, "webhook": 15200, "auth": 15300}


def service_plans(cfg: StackConfig, env: Mapping[str, str]) -> dict[str, services.ServicePlan]:
    mariadb_port, redis_port = cfg.port("mariadb"), cfg.port("redis")
    plans = {}
    for name in SERVICE_NAMES:
        grpc_port, metrics_port = (setting.port for setting in cfg.ports[name])
        prefix = services.ENV_PREFIX[name]
        plans[name] = services.ServicePlan(
            name=name,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            database_url=dev_database_url(services.SCHEMA[name], port=mariadb_port),
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            workers=int(env.get(f"{prefix}WORKERS") or 1),
            extra_env=tier_env(cfg, name),
            worker_port_base=WORKER_PORT_BASE[name],
        )
    return plans


def tier_env(cfg: StackConfig, service: str) -> dict[str, str]:
    """A service's settings for the replicated tier: Redis from the Sentinels, catalog reads from the
    replica."""
    prefix = services.ENV_PREFIX[service]
    env = {}
    if cfg.redis_ha:
        env[f"{prefix}REDIS_SENTINELS"] = cfg.sentinel_hosts()
        env[f"{prefix}REDIS_MASTER_NAME"] = replication.SENTINEL_MASTER_NAME
    if cfg.mariadb_replica and service == "catalog":
        env["CATALOG_DATABASE_READ_URL"] = dev_database_url("catalog", port=cfg.port("mariadb-replica"))
    return env


def stack_env(
    cfg: StackConfig, plans: dict[str, services.ServicePlan], env: Mapping[str, str]
) -> dict[str, str]:
    """What every service process gets on top of its plan: peers, and the sandbox's URLs."""
    sandbox = f"http://127.0.0.1:{cfg.port('sandbox')}"
    sandbox_urls = {
        "AUTH_TOKEN_URL": f"{sandbox}/oauth/token",
        "CATALOG_SUPPLIER_BASE_URL": sandbox,
        "CATALOG_SUPPLIER_HEALTH_URL": f"{sandbox}/healthz",
    }
    return {
        **services.peer_env(plans),
        **{key: env.get(key) or default for key, default in sandbox_urls.items()},
    }


def _started(cfg: StackConfig, proc: processes.ManagedProcess) -> None:
    write_pid(cfg, proc.name, proc.pid)


def _fail(cfg: StackConfig, component: str, error: BaseException) -> StackError:
    log = cfg.log_file(component)
    if isinstance(error, subprocess.CalledProcessError) and error.stderr:
        error = RuntimeError(f"{error}\n{error.stderr.decode(errors='replace').strip()}")
    return StackError(
        f"{component} did not start: {error}\n--- from {log} ---\n{_log_excerpt(log)}\n"
        f"(other components stay up; `make down` stops them, `make logs S={component}` shows more)"
    )


def _log_excerpt(path: Path, lines: int = 12) -> str:
    """The log's error lines if it has any (Envoy logs pages before its one critical line)."""
    text = tail(path, 200).splitlines()
    errors = [line for line in text if re.search(r"\b(critical|error|Traceback)\b", line, re.IGNORECASE)]
    return "\n".join((errors or text)[-lines:])


def up(
    cfg: StackConfig, env: Mapping[str, str], seed: bool = True, say: Callable[[str], None] = _say
) -> None:
    """Starts what is not running, migrates, seeds and waits for the edge's /health."""
    running = {name: running_pid(cfg, name) for name in cfg.components()}
    conflicts = port_conflicts(cfg, [name for name, pid in running.items() if pid is None])
    if conflicts:
        raise StackError("cannot start the dev stack:\n  " + "\n  ".join(conflicts))
    for name, pid in running.items():
        if pid is not None:
            say(f"{name}: already running (pid {pid})")

    datadir = cfg.run_dir / "mariadb"
    if running["mariadb"] is None:
        say(f"mariadb: starting on {cfg.port('mariadb')} (data in {datadir})")
        try:
            options = processes.MariaDBOptions(buffer_pool=cfg.mariadb_buffer_pool)
            if cfg.mariadb_replica:
                options = replication.primary_options(options)
            _started(
                cfg, processes.start_mariadb(datadir, cfg.port("mariadb"), cfg.log_file("mariadb"), options)
            )
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            raise _fail(cfg, "mariadb", error) from error
    try:
        dbinit.init_databases(processes.root_url(datadir), dbinit.dev_service_databases())
    except SQLAlchemyError as error:
        raise _fail(cfg, "mariadb", error) from error
    if cfg.mariadb_replica:
        _up_mariadb_replica(cfg, running["mariadb-replica"] is not None, say)

    if running["redis"] is None:
        say(f"redis: starting on {cfg.port('redis')}")
        try:
            _started(
                cfg, processes.start_redis(cfg.port("redis"), cfg.run_dir / "redis", cfg.log_file("redis"))
            )
        except (RuntimeError, OSError) as error:
            raise _fail(cfg, "redis", error) from error
    if cfg.redis_ha:
        _up_redis_ha(cfg, running, say)

    plans = service_plans(cfg, env)
    extra = stack_env(cfg, plans, env)
    for name in SERVICE_NAMES:
        say(f"{name}: migrating")
        try:
            services.migrate(plans[name], extra)
        except subprocess.CalledProcessError as error:
            raise StackError(f"{name} migration failed (exit {error.returncode}); output above") from error

    if running["sandbox"] is None:
        _start_and_wait(cfg, "sandbox", say, lambda: _spawn_sandbox(cfg))
    for name in SERVICE_NAMES:
        if running[name] is None:
            start = functools.partial(services.start, plans[name], cfg.log_file(name), extra)
            _start_and_wait(cfg, name, say, start)

    if running["envoy"] is None:
        say(f"envoy: starting on {cfg.port('envoy')} (admin {cfg.ports['envoy'][1].port})")
        try:
            _started(cfg, _start_envoy(cfg, plans, env))
        except Exception as error:
            raise _fail(cfg, "envoy", error) from error

    if seed:
        run_seed(plans["catalog"], extra, reset=False, say=say)
    wait_for_health(cfg)
    say(f"dev stack is up: http://127.0.0.1:{cfg.port('envoy')}/health answers 200")


def _up_mariadb_replica(cfg: StackConfig, already_running: bool, say: Callable[[str], None]) -> None:
    """The GTID replica on FARMLOKAL_MARIADB_REPLICA_PORT: seeded once from the primary (which is
    stopped for the copy and started again), then started and left to resume replication."""
    primary_dir, replica_dir = cfg.run_dir / "mariadb", cfg.run_dir / "mariadb-replica"
    primary_url = processes.root_url(primary_dir)
    if not replication.has_binlog(primary_url):
        raise StackError(
            "the running MariaDB has no binary log (it was started without FARMLOKAL_MARIADB_REPLICA=1): "
            "`make down`, then `FARMLOKAL_MARIADB_REPLICA=1 make up`"
        )
    if already_running:
        return
    options = processes.MariaDBOptions(buffer_pool=cfg.mariadb_buffer_pool)
    seeding = not replica_dir.exists()
    try:
        if seeding:
            say("mariadb-replica: seeding from the primary (stopped for a consistent copy, then restarted)")
            replication.create_replication_user(primary_url)
            stop_component(cfg, "mariadb", timeout=60.0)
            replication.seed_datadir(primary_dir, replica_dir)
            primary = processes.start_mariadb(
                primary_dir,
                cfg.port("mariadb"),
                cfg.log_file("mariadb"),
                replication.primary_options(options),
            )
            _started(cfg, primary)
        say(f"mariadb-replica: starting on {cfg.port('mariadb-replica')} (data in {replica_dir})")
        replica = processes.start_mariadb(
            replica_dir,
            cfg.port("mariadb-replica"),
            cfg.log_file("mariadb-replica"),
            replication.replica_options(options),
        )
        write_pid(cfg, "mariadb-replica", replica.pid)
        if seeding:
            replication.configure_replica(
                processes.root_url(replica_dir), "127.0.0.1", cfg.port("mariadb"), from_seed=True
            )
    except (RuntimeError, OSError, subprocess.CalledProcessError, SQLAlchemyError) as error:
        raise _fail(cfg, "mariadb-replica", error) from error


def _up_redis_ha(cfg: StackConfig, running: Mapping[str, int | None], say: Callable[[str], None]) -> None:
    """A replica of the Redis on FARMLOKAL_REDIS_PORT and three Sentinels watching it."""
    primary_port = cfg.port("redis")
    try:
        if running["redis-replica"] is None:
            say(f"redis-replica: starting on {cfg.port('redis-replica')} (replica of {primary_port})")
            proc = replication.start_redis_replica(
                cfg.port("redis-replica"),
                primary_port,
                cfg.run_dir / "redis-replica",
                cfg.log_file("redis-replica"),
            )
            write_pid(cfg, "redis-replica", proc.pid)
        for name in SENTINELS:
            if running[name] is None:
                say(f"{name}: starting on {cfg.port(name)}")
                proc = replication.start_sentinel(
                    cfg.port(name), primary_port, cfg.run_dir / name, cfg.log_file(name)
                )
                write_pid(cfg, name, proc.pid)
    except (RuntimeError, OSError) as error:
        raise _fail(cfg, "redis-replica", error) from error


def _start_and_wait(
    cfg: StackConfig, name: str, say: Callable[[str], None], start: Callable[[], processes.ManagedProcess]
) -> None:
    say(f"{name}: starting on {cfg.port(name)}")
    proc = start()
    write_pid(cfg, name, proc.pid)
    try:
        processes.wait_for_port(cfg.port(name), 60, proc.process, name)
    except (RuntimeError, TimeoutError) as error:
        raise _fail(cfg, name, error) from error


def _spawn_sandbox(cfg: StackConfig) -> processes.ManagedProcess:
    env = {"SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": str(cfg.port("sandbox")), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "sandbox"]
    return processes.spawn(
        "sandbox", argv, cfg.log_file("sandbox"), env=env, cwd=ROOT, port=cfg.port("sandbox")
    )


def edge_config(
    cfg: StackConfig, plans: dict[str, services.ServicePlan], env: Mapping[str, str]
) -> EdgeConfig:
    """The edge of the dev stack: the provider from EDGE_* (farmlokal_edge.settings), else this
    stack's sandbox."""
    listen, admin = (setting.port for setting in cfg.ports["envoy"])
    provider = EdgeSettings.from_env(env).edge_options(sandbox_jwks_uri("127.0.0.1", cfg.port("sandbox")))
    return EdgeConfig(
        listen_port=listen,
        admin_port=admin,
        catalog_address=plans["catalog"].edge_addresses,
        webhook_address=plans["webhook"].edge_addresses,
        auth_address=plans["auth"].edge_addresses,
        descriptor_path=codegen.DESCRIPTOR,
        docs_dir=ROOT / "build" / "docs",  # /docs (make docs-assets; `make up` builds it first)
        **provider,
    )


def _start_envoy(
    cfg: StackConfig, plans: dict[str, services.ServicePlan], env: Mapping[str, str]
) -> processes.ManagedProcess:
    listen, admin = (setting.port for setting in cfg.ports["envoy"])
    path = write_edge_config(edge_config(cfg, plans, env), cfg.run_dir / "envoy" / "envoy.yaml")
    proc = start_envoy(path, admin, listen, cfg.log_file("envoy"), outlive_parent=True, cwd=ROOT)
    write_pid(cfg, "envoy", proc.pid)
    return proc


def run_seed(
    plan: services.ServicePlan, extra: Mapping[str, str], reset: bool, say: Callable[[str], None] = _say
) -> None:
    """Runs `python -m catalog_service.seed` in the foreground (its progress bar is the output)."""
    argv = [sys.executable, "-m", "catalog_service.seed", *(["--reset"] if reset else [])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **plan.env(), **extra}
    say(f"seed: {' '.join(argv[1:])} (SEED_PRODUCTS={env.get('SEED_PRODUCTS', 'default')})")
    result = subprocess.run(argv, env=env, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise StackError(f"seeding failed (exit {result.returncode}); output above")


def wait_for_health(cfg: StackConfig) -> None:
    url = f"http://127.0.0.1:{cfg.port('envoy')}/health"
    deadline = time.monotonic() + cfg.health_timeout
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.5)
    logs = ", ".join(str(cfg.log_file(name)) for name in ("envoy", "catalog"))
    raise StackError(
        f"GET {url} did not answer 200 within {cfg.health_timeout:.0f}s (last: {last}); see {logs}"
    )


def down(cfg: StackConfig, say: Callable[[str], None] = _say) -> None:
    """Stops every component, the replicated tier's too whether or not this configuration asks for it."""
    everything = ("mariadb", "redis", *TIER_COMPONENTS, "sandbox", *SERVICE_NAMES, "envoy")
    for name in reversed(everything):
        if name in TIER_COMPONENTS and running_pid(cfg, name) is None and name not in cfg.components():
            continue
        say(f"{name}: {stop_component(cfg, name, timeout=60.0 if name.startswith('mariadb') else 20.0)}")
