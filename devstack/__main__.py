"""`python -m devstack up|down|status|logs|seed|migrate|edge-config|probe`: the dev stack's command line."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import codegen, services, stack
from devstack.processes import port_in_use


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
    rows = [("COMPONENT", "PID", "PORT", "ALIVE", "HEALTHY")]
    for name in stack.COMPONENTS:
        pid = stack.running_pid(cfg, name)
        healthy = _healthy(name, cfg.port(name)) if pid is not None else False
        ports = "/".join(str(setting.port) for setting in cfg.ports[name])
        rows.append((name, str(pid or "-"), ports, _yes(pid is not None), _yes(healthy)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _logs(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    names = [args.component] if args.component else list(stack.COMPONENTS)
    unknown = [name for name in names if name not in stack.COMPONENTS]
    if unknown:
        raise stack.StackError(f"no component {unknown[0]!r}; one of: {', '.join(stack.COMPONENTS)}")
    for name in names:
        path = cfg.log_file(name)
        print(f"==> {path} <==")
        print(stack.tail(path, args.lines))
    return 0


def _seed(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    plans = stack.service_plans(cfg, env)
    seeded = stack.run_seed(plans["catalog"], stack.stack_env(cfg, plans, env), reset=args.reset)
    return 0 if seeded else 1


def _migrate(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    plans = stack.service_plans(cfg, env)
    for name in stack.SERVICE_NAMES:
        print(f"{name}: migrating")
        services.migrate(plans[name], stack.stack_env(cfg, plans, env))


def _edge_config(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> None:
    """Writes envoy.yaml and the descriptor it names into one directory (compose's edge volume)."""
    from devstack import edge

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    descriptor = out / codegen.DESCRIPTOR.name
    shutil.copyfile(codegen.DESCRIPTOR, descriptor)
    config = edge.EdgeConfig(
        listen_port=args.listen_port,
        admin_port=args.admin_port,
        catalog_address=args.catalog,
        webhook_address=args.webhook,
        auth_address=args.auth,
        descriptor_path=Path(args.descriptor_path or descriptor),
        listen_host=args.listen_host,
    )
    print(edge.write_edge_config(config, out / "envoy.yaml"))


def _probe(cfg: stack.StackConfig, args: argparse.Namespace, env: dict[str, str]) -> int:
    """Exit 0 if the target is healthy: compose healthchecks use this."""
    ok = _grpc_serving(args.target) if args.grpc else _http_ok(args.target)
    return 0 if ok else 1


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
    logs.add_argument("component", nargs="?", help="one of " + ", ".join(stack.COMPONENTS))
    logs.add_argument("-n", "--lines", type=int, default=40)
    command("seed", _seed, "seed the catalog (SEED_PRODUCTS products)").add_argument(
        "--reset", action="store_true", help="empty the catalog first"
    )
    command("migrate", _migrate, "migrate every service's schema")
    edge_config = command("edge-config", _edge_config, "write an Envoy config and descriptor to a directory")
    edge_config.add_argument("--out", required=True)
    edge_config.add_argument("--listen-host", default="0.0.0.0")
    edge_config.add_argument("--listen-port", type=int, default=8080)
    edge_config.add_argument("--admin-port", type=int, default=9901)
    edge_config.add_argument("--catalog", default="catalog:50051")
    edge_config.add_argument("--webhook", default="webhook:50052")
    edge_config.add_argument("--auth", default="auth:50053")
    edge_config.add_argument(
        "--descriptor-path", help="where Envoy will see the descriptor (default: in --out)"
    )
    probe = command("probe", _probe, "exit 0 if an HTTP URL answers 200 or a gRPC server is SERVING")
    probe.add_argument("target", help="URL, or host:port with --grpc")
    probe.add_argument("--grpc", action="store_true")
    return parser


if __name__ == "__main__":
    sys.exit(main())
