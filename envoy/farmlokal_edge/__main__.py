"""`python -m farmlokal_edge`: writes the edge's Envoy config (and the descriptor it names) for a deployment.

The defaults are compose's topology (services by host name); `--golden` writes them to envoy/envoy.yaml,
the rendered config a reviewer reads (a test fails when it falls behind the renderer or the protos).
The OAuth provider whose tokens the admin routes accept comes from the EDGE_* variables
(farmlokal_edge.settings; unset: compose's sandbox); `--golden` ignores them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from farmlokal_edge.config import EdgeConfig, sandbox_jwks_uri
from farmlokal_edge.render import render_edge_config
from farmlokal_edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
GOLDEN = ROOT / "envoy" / "envoy.yaml"
DEPLOYED_DESCRIPTOR = Path("/etc/farmlokal-edge/api.pb")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m farmlokal_edge", description=__doc__)
    target = cli.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="directory for envoy.yaml and a copy of the descriptor")
    target.add_argument("--golden", action="store_true", help=f"write {GOLDEN.relative_to(ROOT)}")
    cli.add_argument("--listen-host", default="0.0.0.0")
    cli.add_argument("--listen-port", type=int, default=8080)
    cli.add_argument("--admin-host", default="0.0.0.0", help="Prometheus scrapes it; never publish its port")
    cli.add_argument("--admin-port", type=int, default=9901)
    cli.add_argument(
        "--sandbox",
        default="sandbox:18090",
        help="host:port of the sandbox, the provider when EDGE_JWKS_URI is unset",
    )
    cli.add_argument("--catalog", default="catalog:15051")
    cli.add_argument("--webhook", default="webhook:15052")
    cli.add_argument("--auth", default="auth:15053")
    cli.add_argument(
        "--descriptor-path",
        type=Path,
        help=f"where Envoy reads the descriptor (default: {DEPLOYED_DESCRIPTOR})",
    )
    return cli


def config(args: argparse.Namespace, descriptor: Path, provider: EdgeSettings) -> EdgeConfig:
    host, _, port = args.sandbox.rpartition(":")
    return EdgeConfig(
        listen_port=args.listen_port,
        admin_port=args.admin_port,
        catalog_address=args.catalog,
        webhook_address=args.webhook,
        auth_address=args.auth,
        descriptor_path=descriptor,
        listen_host=args.listen_host,
        admin_host=args.admin_host,
        **provider.edge_options(sandbox_jwks_uri(host, int(port))),
    )


def golden() -> str:
    """The rendered config for the default settings, as envoy/envoy.yaml holds it."""
    return render_with(parser().parse_args(["--golden"]), _defaults())


def _defaults() -> EdgeSettings:
    """EdgeSettings' defaults, whatever the environment holds."""
    return EdgeSettings.from_env({})


def render_with(args: argparse.Namespace, provider: EdgeSettings) -> str:
    # The services and routes come from the local descriptor; the config names where Envoy finds it.
    cfg = config(args, DESCRIPTOR, provider)
    text = render_edge_config(cfg)
    return text.replace(str(DESCRIPTOR), str(args.descriptor_path or DEPLOYED_DESCRIPTOR))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.golden:
        GOLDEN.write_text(render_with(args, _defaults()))
        print(GOLDEN)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DESCRIPTOR, args.out / DESCRIPTOR.name)
    if args.descriptor_path is None:
        args.descriptor_path = args.out / DESCRIPTOR.name
    (args.out / "envoy.yaml").write_text(render_with(args, EdgeSettings.from_env(os.environ)))
    print(args.out / "envoy.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
