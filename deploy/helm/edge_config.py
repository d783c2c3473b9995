"""Renders the chart's edge config with farmlokal_edge, the renderer `make up` and compose use.

Helm cannot run Python, so `make k8s-edge-config` (also run by `make k8s-render` and `make k8s-check`)
renders the whole Envoy bootstrap here, for the chart's topology (listen and admin on every address,
the services' ports; the transcoder's descriptor set is embedded in it), into
deploy/helm/farmlokal/files/edge/envoy-{http,https}.yaml. What only an install knows (the services'
DNS names, which depend on the release and namespace; the OAuth provider's issuer, audiences and
JWKS; the CORS origins) is rendered as a slot that templates/_edge.tpl fills from the values: one
string each, nothing else. One file per JWKS scheme, because an https JWKS adds TLS to its cluster.

    python deploy/helm/edge_config.py            write the files
    python deploy/helm/edge_config.py --check    fail when they differ from what the renderer makes now
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from farmlokal_edge import EdgeConfig, render_edge_config
from farmlokal_edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "farmlokal"
DESCRIPTOR = ROOT / "build" / "gen" / "api.pb"
LISTEN_PORT = 8080
ADMIN_PORT = 9901
SERVICE_PORTS = {"catalog": 15051, "webhook": 15052, "auth": 15053}
SCHEMES = ("http", "https")

# The slots templates/_edge.tpl fills; each occurs only where the renderer puts that one value.
JWKS_PORT_SLOT = 65000
SLOTS = {
    "catalog_host": "slot-catalog-host.invalid",
    "webhook_host": "slot-webhook-host.invalid",
    "auth_host": "slot-auth-host.invalid",
    "jwt_issuer": "slot-jwt-issuer",
    "jwt_audience": "slot-jwt-audience",
    "jwks_host": "slot-jwks-host.invalid",
    "jwks_path": "/slot-jwks-path",
    "jwks_ca_file": "/slot/jwks-ca-file",
    "cors_origin": "slot-cors-origin",
}


def chart_edge_config(descriptor: Path, scheme: str) -> EdgeConfig:
    provider = EdgeSettings.from_env(
        {
            "EDGE_JWT_ISSUER": SLOTS["jwt_issuer"],
            "EDGE_JWT_AUDIENCES": SLOTS["jwt_audience"],
            "EDGE_JWKS_URI": f"{scheme}://{SLOTS['jwks_host']}:{JWKS_PORT_SLOT}{SLOTS['jwks_path']}",
            "EDGE_JWKS_CA_FILE": SLOTS["jwks_ca_file"],
        }
    )
    return EdgeConfig(
        listen_port=LISTEN_PORT,
        admin_port=ADMIN_PORT,
        catalog_address=f"{SLOTS['catalog_host']}:{SERVICE_PORTS['catalog']}",
        webhook_address=f"{SLOTS['webhook_host']}:{SERVICE_PORTS['webhook']}",
        auth_address=f"{SLOTS['auth_host']}:{SERVICE_PORTS['auth']}",
        descriptor_path=descriptor,
        cors_allowed_origins=(SLOTS["cors_origin"],),
        listen_host="0.0.0.0",
        # Prometheus scrapes it; the chart's NetworkPolicy admits only the monitoring namespace.
        admin_host="0.0.0.0",
        **provider.edge_options(""),
    )


def render(descriptor: Path, scheme: str) -> str:
    return render_edge_config(chart_edge_config(descriptor, scheme))


def target(chart: Path, scheme: str) -> Path:
    return chart / "files" / "edge" / f"envoy-{scheme}.yaml"


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python deploy/helm/edge_config.py", description=__doc__)
    cli.add_argument("--check", action="store_true", help="fail when the chart's files are stale")
    cli.add_argument("--chart", type=Path, default=CHART, help="the chart folder (default: %(default)s)")
    cli.add_argument("--descriptor", type=Path, default=DESCRIPTOR, help="the API's descriptor set")
    args = cli.parse_args(argv)
    stale = []
    for scheme in SCHEMES:
        path, text = target(args.chart, scheme), render(args.descriptor, scheme)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)
    if stale:
        print(f"stale (run `make k8s-edge-config`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
