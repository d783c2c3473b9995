"""`python -m devstack up|down|status|logs|seed|migrate|env-example|probe`: the dev stack's command line.

The edge's Envoy config is rendered by `python -m farmlokal_edge` (envoy/).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic_settings import BaseSettings

from devstack import processes, replication, services, stack
from devstack.processes import port_in_use, tail


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    stack.load_dotenv(stack.ROOT / ".env", env)
    os.environ.update(env)
    try:
        cfg = stack.StackConfig.from_env(env)
        return int(args.run(cfg, args, env) or 0)
    except stack.StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _up(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    stack.up(cfg, env, seed=not args.no_seed)


def _down(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    stack.down(cfg)


def _status(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    rows = [("COMPONENT", "PID", "PORT", "ALIVE", "HEALTHY", "DETAIL")]
    shown = [*cfg.components()]
    shown += [name for name in stack.TIER_COMPONENTS if name not in shown and stack.running_pid(cfg, name)]
    for name in shown:
        pid = stack.running_pid(cfg, name)
        healthy = _healthy(name, cfg.port(name)) if pid is not None else False
        ports = "/".join(str(setting.port) for setting in cfg.ports[name])
        detail = _detail(cfg, name) if pid is not None else ""
        rows.append((name, str(pid or "-"), ports, _yes(pid is not None), _yes(healthy), detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _detail(cfg: stack.StackConfig, name: str) -> str:
    """The replicated tier's state: the replica's replication and lag, each Redis's role."""
    try:
        if name == "mariadb-replica":
            status = replication.replica_status(
                processes.root_url(cfg.run_dir / "mariadb-replica"),
                processes.root_url(cfg.run_dir / "mariadb"),
            )
            lag = _catalog_replica_lag(cfg)
            return status.describe() + (f"; catalog sees lag {lag}" if lag else "")
        if name in ("redis", "redis-replica") and cfg.redis_ha:
            import redis

            info = redis.Redis(port=cfg.port(name), socket_timeout=1).info("replication")
            return f"role {info['role']}" + (f" of {info['master_port']}" if info["role"] == "slave" else "")
        if name in stack.SENTINELS:
            import redis

            sentinel = redis.Redis(port=cfg.port(name), socket_timeout=1, decode_responses=True)
            master = sentinel.execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", replication.SENTINEL_MASTER_NAME
            )
            return f"master {':'.join(master)}" if master else "no master"
    except Exception as error:
        return f"({type(error).__name__})"
    return ""


def _catalog_replica_lag(cfg: stack.StackConfig) -> str:
    """farmlokal_db_replica_lag_seconds as the catalog's first worker exports it."""
    try:
        metrics = httpx.get(f"http://127.0.0.1:{cfg.ports['catalog'][1].port}/metrics", timeout=1.0).text
    except httpx.HTTPError:
        return ""
    for line in metrics.splitlines():
        if line.startswith("farmlokal_db_replica_lag_seconds{"):
            return f"{float(line.rsplit(' ', 1)[1]):.1f} s"
    return ""


def _replica_pause(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    _require_replica(cfg)
    replication.pause(processes.root_url(cfg.run_dir / "mariadb-replica"))
    print("mariadb-replica: SQL thread stopped (it keeps receiving the binary log); make replica-resume")


def _replica_resume(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    _require_replica(cfg)
    replication.resume(processes.root_url(cfg.run_dir / "mariadb-replica"))
    print("mariadb-replica: SQL thread started; it catches up on its own")


def _require_replica(cfg: stack.StackConfig) -> None:
    if stack.running_pid(cfg, "mariadb-replica") is None:
        raise stack.StackError(
            "no MariaDB replica is running: start one with FARMLOKAL_MARIADB_REPLICA=1 make up"
        )


def _logs(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    known = (*stack.COMPONENTS, *stack.TIER_COMPONENTS)
    names = [args.component] if args.component else list(cfg.components())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise stack.StackError(f"no component {unknown[0]!r}; one of: {', '.join(known)}")
    for name in names:
        path = cfg.log_file(name)
        print(f"==> {path} <==")
        print(tail(path, args.lines))
    return 0


def _seed(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    plans = stack.service_plans(cfg, env)
    stack.run_seed(plans["catalog"], stack.stack_env(cfg, plans, env), reset=args.reset)


def _migrate(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    plans = stack.service_plans(cfg, env)
    for name in stack.SERVICE_NAMES:
        print(f"{name}: migrating")
        services.migrate(plans[name], stack.stack_env(cfg, plans, env))


def _probe(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    """Exit 0 if the target is healthy: compose healthchecks use this."""
    ok = _grpc_serving(args.target) if args.grpc else _http_ok(args.target)
    return 0 if ok else 1


ENV_EXAMPLE_HEADER = """\
# Every setting with its dev default (generated by `make env-example`; edit the header in
# devstack/__main__.py). Copy to .env to change some: `make up` (python -m devstack) reads .env,
# and a variable already set in the shell wins over the file. Services read only their own prefix.
# docker-compose.yml sets its own values for hosts, URLs and peer addresses.

# ---- dev stack (make up / python -m devstack) ----
FARMLOKAL_RUN_DIR=.run
FARMLOKAL_MARIADB_PORT=13306
FARMLOKAL_MARIADB_BUFFER_POOL=2G
FARMLOKAL_REDIS_PORT=16379
# The replicated data tier (README "Replicated data tier"): FARMLOKAL_MARIADB_REPLICA=1 adds a GTID
# replica that catalog reads use; FARMLOKAL_REDIS_HA=1 a Redis replica and three Sentinels (on
# FARMLOKAL_REDIS_SENTINEL_PORT and the next two) that every service takes its Redis from.
FARMLOKAL_MARIADB_REPLICA=0
FARMLOKAL_MARIADB_REPLICA_PORT=13307
FARMLOKAL_REDIS_HA=0
FARMLOKAL_REDIS_REPLICA_PORT=16380
FARMLOKAL_REDIS_SENTINEL_PORT=26379
FARMLOKAL_SANDBOX_PORT=18090
FARMLOKAL_EDGE_PORT=8080
FARMLOKAL_EDGE_ADMIN_PORT=9901
# Seconds `make up` waits for GET /health on the edge to answer 200.
FARMLOKAL_UP_TIMEOUT=120
# Products `make up` / `make seed` load into the catalog.
SEED_PRODUCTS=1000000
# Under make up, the services' *_GRPC_PORT, *_METRICS_PORT and *_WORKERS below are honoured;
# *_GRPC_HOST, *_DATABASE_URL, *_REDIS_URL and the peer *_ADDRESS values are derived from the ports
# (so changing one port moves every reference to it); the sandbox URLs (AUTH_TOKEN_URL,
# CATALOG_SUPPLIER_BASE_URL, CATALOG_SUPPLIER_HEALTH_URL, the edge's JWKS) follow
# FARMLOKAL_SANDBOX_PORT unless set here.
"""


EDGE_HEADER = """\
# ---- edge (make up, compose's and the chart's edge-config job: python -m farmlokal_edge) ----
# The OAuth2 provider whose JWTs the admin routes accept (README "Admin routes": Keycloak, Auth0).
# EDGE_JWT_AUDIENCES is comma-separated; EDGE_JWKS_URI empty: the stack's own sandbox (it follows
# FARMLOKAL_SANDBOX_PORT); EDGE_JWKS_CA_FILE empty: an https JWKS is checked against the system CAs.
"""


def _env_example(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    from auth_service.settings import AuthSettings
    from catalog_service.settings import CatalogSettings
    from farmlokal_common.settings import ServiceSettings
    from farmlokal_edge.settings import EdgeSettings
    from sandbox.settings import SandboxSettings
    from webhook_service.settings import WebhookSettings

    def lines(settings: type[BaseSettings], names: list[str]) -> list[str]:
        prefix = str(settings.model_config.get("env_prefix", ""))
        fields = settings.model_fields
        return [f"{prefix}{name.upper()}={_env_value(fields[name].default)}" for name in names]

    out = [ENV_EXAMPLE_HEADER]
    out += ["# ---- sandbox (python -m sandbox): stand-ins for the outside providers ----"]
    out += lines(SandboxSettings, list(SandboxSettings.model_fields))
    out += ["", EDGE_HEADER.rstrip("\n"), *lines(EdgeSettings, list(EdgeSettings.model_fields))]
    common = list(ServiceSettings.model_fields)
    for title, settings in (
        ("catalog_service", CatalogSettings),
        ("webhook_service", WebhookSettings),
        ("auth_service", AuthSettings),
    ):
        own = [name for name in settings.model_fields if name not in common]
        out += ["", f"# ---- {title} (python -m {title}) ----", "# shared by every service"]
        out += lines(settings, common)
        out += [f"# {title} only", *lines(settings, own)]
    print("\n".join(out))


def _env_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _healthy(component: str, port: int) -> bool:
    if component in stack.SERVICE_NAMES:
        return _grpc_serving(f"127.0.0.1:{port}")
    if component == "sandbox":
        return _http_ok(f"http://127.0.0.1:{port}/healthz")
    if component == "envoy":
        return _http_ok(f"http://127.0.0.1:{port}/health")
    return port_in_use(port)


def _grpc_serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _yes(value: bool) -> str:
    return "yes" if value else "no"


Handler = Callable[[stack.StackConfig, argparse.Namespace, dict[str, str]], int | None]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.set_defaults(run=handler)
        return cmd

    command("up", _up, "start everything not running, migrate, seed, wait for /health").add_argument(
        "--no-seed", action="store_true", help="skip seeding the catalog"
    )
    command("down", _down, "stop everything `up` started")
    command("status", _status, "table of components: pid, port, alive, healthy")
    logs = command("logs", _logs, "tail the logs")
    logs.add_argument(
        "component", nargs="?", help="one of " + ", ".join((*stack.COMPONENTS, *stack.TIER_COMPONENTS))
    )
    logs.add_argument("-n", "--lines", type=int, default=40)
    command("seed", _seed, "seed the catalog (SEED_PRODUCTS products)").add_argument(
        "--reset", action="store_true", help="empty the catalog first"
    )
    command("migrate", _migrate, "migrate every service's schema")
    command("replica-pause", _replica_pause, "stop the MariaDB replica's SQL thread (lag on purpose)")
    command("replica-resume", _replica_resume, "start the MariaDB replica's SQL thread again")
    command("env-example", _env_example, "print .env.example: every setting with its default")
    probe = command("probe", _probe, "exit 0 if an HTTP URL answers 200 or a gRPC server is SERVING")
    probe.add_argument("target", help="URL, or host:port with --grpc")
    probe.add_argument("--grpc", action="store_true")
    return parser


if __name__ == "__main__":
    sys.exit(main())
