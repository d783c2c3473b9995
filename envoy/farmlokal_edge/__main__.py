"""`python -m farmlokal_edge`: writes the edge's Envoy config for a deployment (its descriptor set embedded).

The defaults are compose's topology (services by host name); `--golden` writes them to envoy/envoy.yaml,
the rendered config a reviewer reads (a test fails when it falls behind the renderer or the protos).
The OAuth provider whose tokens the admin routes accept comes from the EDGE_* variables
(farmlokal_edge.settings; unset: compose's sandbox); `--golden` ignores them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from farmlokal_edge.config import EdgeConfig, sandbox_jwks_uri
from farmlokal_edge.render import render_edge_config
from farmlokal_edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
GOLDEN = ROOT / "envoy" / "envoy.yaml"


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m farmlokal_edge", description=__doc__)
    target = cli.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="directory for envoy.yaml")
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
    # The services, the routes and the transcoder's descriptor come from the local descriptor set.
    return render_edge_config(config(args, DESCRIPTOR, provider))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.golden:
        GOLDEN.write_text(render_with(args, _defaults()))
        print(GOLDEN)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "envoy.yaml").write_text(render_with(args, EdgeSettings.from_env(os.environ)))
    print(args.out / "envoy.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
