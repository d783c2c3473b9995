"""The observability suite's stack: the three services (webhook with two worker processes) behind an
Envoy that serves the API reference, their own MariaDB, Redis and sandbox, a small seeded catalog; a
real Prometheus scraping it; playwright-core for Debian's Chromium.

    Chromium ─► Envoy (/docs, REST) ─► catalog, webhook x2, auth ─► MariaDB, Redis, sandbox
    Prometheus ─► every worker's metrics port, Envoy's admin /stats/prometheus
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import services
from tests.conftest import MariaDB, RedisServer, start_mariadb, start_redis
from tests.e2e.auth_sandbox import API_AUDIENCE, SandboxProcess, start_sandbox
from tests.e2e.conftest import Edge, running_stack, start_edge
from tests.observability.prometheus_server import Prometheus, start_prometheus

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "build" / "docs"
BROWSER_SRC = Path(__file__).parent / "browser"
BROWSER_CACHE = ROOT / "build" / "observability-browser"
CHROMIUM = Path("/usr/bin/chromium")
PRODUCTS = 50
WEBHOOK_WORKERS = 2
# Short intervals and a breaker that opens after two failed attempts and may probe after 2 s, so a
# supplier outage and its recovery fit in seconds; rate limits high but for ListCategories (5 a
# minute, from the e2e settings), whose 429s the dashboard's rate-limit panel needs.
STACK_ENV = {
    "CATALOG_RATE_LIMITS": "ListCategories=5/60,*=1000/1",
    "WEBHOOK_RATE_LIMITS": "*=1000/1",
    "AUTH_RATE_LIMITS": "*=1000/1",
    "CATALOG_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "WEBHOOK_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "AUTH_HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "CATALOG_SUPPLIER_MAX_ATTEMPTS": "2",
    "CATALOG_SUPPLIER_BACKOFF_BASE_SECONDS": "0.05",
    "CATALOG_SUPPLIER_BREAKER_FAIL_MAX": "2",
    "CATALOG_SUPPLIER_BREAKER_RESET_SECONDS": "2",
    "WEBHOOK_WORKERS": str(WEBHOOK_WORKERS),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "observability: /docs in a browser, a real Prometheus (tests/observability)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(__file__).parent in item.path.parents:
            item.add_marker(pytest.mark.observability)


@dataclass
class ObservedStack:
    """The running stack; `edge` is the Envoy that serves /docs and takes every request here."""

    edge: Edge
    sandbox: SandboxProcess

    @property
    def base_url(self) -> str:
        return self.edge.base_url

    def admin_headers(self) -> dict[str, str]:
        token = self.sandbox.token(scope="catalog:admin webhooks:admin", audience=API_AUDIENCE)
        return {"authorization": f"Bearer {token}"}

    def scrape_targets(self) -> dict[str, list[str]]:
        """Prometheus jobs and their host:port targets: one per worker process, and Envoy's admin."""
        jobs = {
            name: [f"127.0.0.1:{plan.metrics_port + worker}" for worker in range(_workers(name))]
            for name, plan in self.edge.plans.items()
        }
        return {**jobs, "envoy": [f"127.0.0.1:{self.edge.admin_port}"]}


def _workers(service: str) -> int:
    return WEBHOOK_WORKERS if service == "webhook" else 1


@pytest.fixture(scope="session")
def docs_dir() -> Path:
    """build/docs, made by `make docs-assets` (run here too: it is quick when nothing changed)."""
    subprocess.run([str(ROOT / "scripts" / "docs-assets.sh")], check=True, cwd=ROOT)
    return DOCS_DIR


@pytest.fixture(scope="session")
def observed_stack(run_dir: Path, docs_dir: Path) -> Iterator[ObservedStack]:
    base = run_dir / "observability"
    mariadb: MariaDB = start_mariadb(base, "mariadb")
    redis_server: RedisServer | None = None
    sandbox: SandboxProcess | None = None
    try:
        redis_server = start_redis(base, "redis")
        sandbox = start_sandbox(base, "sandbox")
        with running_stack(base, "stack", mariadb, redis_server, sandbox, STACK_ENV) as stack:
            services.seed(stack.plans["catalog"], PRODUCTS, base / "seed.log")
            # running_stack's own Envoy is rendered without the API reference; this one has it,
            # in front of the same services.
            cfg, envoy, path = start_edge(
                base,
                "docs-envoy",
                stack.plans["catalog"].address,
                stack.plans["webhook"].address,
                stack.plans["auth"].address,
                jwks_uri=sandbox.jwks_uri,
                docs_dir=docs_dir,
            )
            try:
                edge = Edge(cfg.listen_port, cfg.admin_port, path, envoy, stack.plans, stack.processes)
                yield ObservedStack(edge, sandbox)
            finally:
                envoy.stop()
    finally:
        if sandbox is not None:
            sandbox.stop()
        if redis_server is not None:
            redis_server.stop()
        mariadb.process.stop()


@pytest.fixture(scope="session")
def prometheus(run_dir: Path, observed_stack: ObservedStack) -> Iterator[Prometheus]:
    server = start_prometheus(run_dir / "observability" / "prometheus", observed_stack.scrape_targets())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_runner() -> Path:
    """A folder with playwright-core (the committed lock, `npm ci`, cached under build/) and the
    test's script; Chromium itself is Debian's (scripts/bootstrap.sh installs it)."""
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (/usr/bin/chromium); scripts/bootstrap.sh installs it"
        if os.environ.get("FARMLOKAL_REQUIRE_BROWSER"):  # CI (.ci/run): never skipped
            pytest.fail(reason)
        pytest.skip(reason)
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to install playwright-core for the browser test")
    lock = (BROWSER_SRC / "package-lock.json").read_bytes()
    stamp = hashlib.sha256(lock).hexdigest()
    stamp_file = BROWSER_CACHE / ".stamp"
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        shutil.rmtree(BROWSER_CACHE, ignore_errors=True)
        BROWSER_CACHE.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(BROWSER_SRC / name, BROWSER_CACHE / name)
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
            cwd=BROWSER_CACHE,
            check=True,
            timeout=300,
        )
        stamp_file.write_text(stamp)
    for script in BROWSER_SRC.glob("*.mjs"):
        shutil.copyfile(script, BROWSER_CACHE / script.name)
    return BROWSER_CACHE
