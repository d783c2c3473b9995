"""How the dev stack and the e2e fixtures launch the three services: env, migrations, processes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import ManagedProcess, spawn

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("catalog", "webhook", "auth")
PACKAGE = {"catalog": "catalog_service", "webhook": "webhook_service", "auth": "auth_service"}
ENV_PREFIX = {"catalog": "CATALOG_", "webhook": "WEBHOOK_", "auth": "AUTH_"}
SCHEMA = {"catalog": "catalog", "webhook": "webhooks", "auth": "auth"}


@dataclass
class ServicePlan:
    """Where one service listens and what it connects to."""

    name: str
    grpc_port: int
    metrics_port: int
    database_url: str
    redis_url: str
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    # With several workers: worker i's own port is worker_port_base + i (0: only the shared port).
    worker_port_base: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def edge_addresses(self) -> str | tuple[str, ...]:
        """What the edge lists for this service: one endpoint per worker when they have their own
        ports (balanced per request), else the shared port."""
        if self.worker_port_base and self.workers > 1:
            return tuple(f"127.0.0.1:{self.worker_port_base + i}" for i in range(self.workers))
        return self.address

    def env(self) -> dict[str, str]:
        prefix = ENV_PREFIX[self.name]
        return {
            f"{prefix}GRPC_HOST": "127.0.0.1",
            f"{prefix}GRPC_PORT": str(self.grpc_port),
            f"{prefix}METRICS_PORT": str(self.metrics_port),
            f"{prefix}DATABASE_URL": self.database_url,
            f"{prefix}REDIS_URL": self.redis_url,
            f"{prefix}WORKERS": str(self.workers),
            f"{prefix}WORKER_PORT_BASE": str(self.worker_port_base),
            **self.extra_env,
        }


def peer_env(plans: dict[str, ServicePlan]) -> dict[str, str]:
    """Addresses each service uses to call the others over gRPC."""
    return {
        "CATALOG_AUTH_ADDRESS": plans["auth"].address,
        "CATALOG_WEBHOOK_ADDRESS": plans["webhook"].address,
        "WEBHOOK_CATALOG_ADDRESS": plans["catalog"].address,
    }


def migrate(plan: ServicePlan, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", PACKAGE[plan.name], "migrate"],
        env={**_base_env(), **plan.env(), **(env or {})},
        check=True,
        cwd=ROOT,
    )


def start(plan: ServicePlan, log_path: Path, env: dict[str, str] | None = None) -> ManagedProcess:
    """Starts `python -m <package>`; wait for it with processes.wait_for_port(plan.grpc_port, ...)."""
    return spawn(
        plan.name,
        [sys.executable, "-m", PACKAGE[plan.name]],
        log_path,
        env={**_base_env(), **plan.env(), **(env or {})},
        cwd=ROOT,
        port=plan.grpc_port,
    )


def _base_env() -> dict[str, str]:
    return {"PYTHONUNBUFFERED": "1"}


def seed(plan: ServicePlan, products: int, log_path: Path, reset: bool = True) -> None:
    """Seeds the catalog of `plan` (the catalog's ServicePlan) with `products` products."""
    argv = [sys.executable, "-m", "catalog_service.seed", "--products", str(products)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        subprocess.run(
            [*argv, *(["--reset"] if reset else [])],
            env={**os.environ, **_base_env(), **plan.env()},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
