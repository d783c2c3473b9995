"""Envoys of the own stack: the edge in front of a catalog instance, and the prebuilt-response reference
server (bench/reference_server.py) behind an Envoy of its own with the same configuration."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness.stack import DESCRIPTOR, ROOT, free_port_block, wait_serving
from devstack import processes
from devstack.processes import free_port

if TYPE_CHECKING:
    from bench.harness.stack import OwnStack


def start_edge(
    stack: OwnStack, name: str, catalog_address: str | tuple[str, ...], others: dict[str, str]
) -> str:
    """An Envoy with the edge configuration in front of catalog_address; returns its base URL."""
    import farmlokal_edge as edge
    from devstack.envoy_process import start_envoy

    listen, admin = free_port(), free_port()
    unreachable = f"127.0.0.1:{free_port()}"  # absent services: Envoy answers 503 for their routes
    config = edge.EdgeConfig(
        listen_port=listen,
        admin_port=admin,
        catalog_address=catalog_address,
        webhook_address=others.get("webhook", unreachable),
        auth_address=others.get("auth", unreachable),
        descriptor_path=DESCRIPTOR,
    )
    if stack.sandbox_url:  # admin routes verify JWTs with the stack's own sandbox keys
        config = dataclasses.replace(config, jwks_uri=f"{stack.sandbox_url}/.well-known/jwks.json")
    path = edge.write_edge_config(config, stack.run_dir / name / "envoy.yaml")
    stack.say(f"stack: starting envoy '{name}' on {listen} -> catalog {catalog_address}")
    stack.keep(name, start_envoy(path, admin, listen, stack.log(name)))
    return f"http://127.0.0.1:{listen}"


def start_reference_edge(stack: OwnStack, workers: int, response_file: Path | None) -> str:
    """bench/reference_server.py with `workers` processes and its own Envoy; returns the Envoy's URL."""
    port, base = free_port(), free_port_block(workers)
    argv = [sys.executable, "-m", "bench.reference_server", "--port", str(port), "--workers", str(workers)]
    argv += ["--worker-port-base", str(base)]
    if response_file is not None:
        argv += ["--response-file", str(response_file)]
    stack.say(f"stack: starting the reference server on {port} ({workers} worker(s))")
    proc = processes.spawn("reference", argv, stack.log("reference"), env={"PYTHONUNBUFFERED": "1"}, cwd=ROOT)
    stack.keep("reference", proc)
    wait_serving(f"127.0.0.1:{port}", proc, stack.log("reference"))
    # One endpoint per worker, as the catalog's (a fair ceiling: the same balance on both sides).
    endpoints = tuple(f"127.0.0.1:{base + i}" for i in range(workers)) if workers > 1 else f"127.0.0.1:{port}"
    return start_edge(stack, "reference-edge", endpoints, {})


def start_uncached_edge(stack: OwnStack) -> str:
    """An edge in front of the uncached catalog instance: B8 compares uncached pages through REST."""
    return start_edge(stack, "edge-uncached", stack.plans["catalog-uncached"].edge_addresses, {})
