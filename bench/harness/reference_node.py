"""The peer-style Node.js reference of B8 (bench/reference_node): installed with `npm ci` into
build/reference-node, started on the own stack's MariaDB and Redis (cached and uncached instances),
and the FULLTEXT index its search uses added to the catalog's products table."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import create_engine, make_url, text

from devstack import processes
from devstack.processes import free_port

if TYPE_CHECKING:
    from bench.harness.stack import OwnStack

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "bench" / "reference_node"
INSTALL_DIR = ROOT / "build" / "reference-node"
FULLTEXT_INDEX = "ft_reference_products"
# The limiter stays in the request path (one INCR per request) but never rejects, as on our side.
RATE_LIMIT = "1000000"
LOCK_WAIT_S = 120
Say = Callable[[str], None]


class ReferenceError(RuntimeError):
    """Node or npm is missing, the install failed, or the server did not answer."""


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        raise ReferenceError("node is not installed (Node.js 20 or later: apt-get install -y nodejs npm)")
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def lock_digest(source: Path = SOURCE) -> str:
    data = (source / "package.json").read_bytes() + (source / "package-lock.json").read_bytes()
    return hashlib.sha256(data).hexdigest()


def ensure_installed(say: Say = print, source: Path = SOURCE, target: Path = INSTALL_DIR) -> Path:
    """`npm ci` of the pinned lock into target (skipped when it already holds that lock); returns the
    node_modules directory the server runs with (NODE_PATH)."""
    node_version()
    npm = shutil.which("npm")
    if npm is None:
        raise ReferenceError("npm is not installed (apt-get install -y npm)")
    stamp = target / ".lock-sha256"
    digest = lock_digest(source)
    if stamp.exists() and stamp.read_text().strip() == digest and (target / "node_modules").is_dir():
        return target / "node_modules"
    say(f"reference: npm ci of bench/reference_node into {target}")
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(source / name, target / name)
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    result = subprocess.run(command, cwd=target, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise ReferenceError(f"npm ci failed in {target}:\n{(result.stderr or result.stdout)[-2000:]}")
    stamp.write_text(digest + "\n")
    return target / "node_modules"


def database_env(database_url: str) -> dict[str, str]:
    """The catalog's SQLAlchemy URL as the reference's REFERENCE_DB_* settings."""
    url = make_url(database_url)
    return {
        "REFERENCE_DB_HOST": url.host or "127.0.0.1",
        "REFERENCE_DB_PORT": str(url.port or 3306),
        "REFERENCE_DB_USER": url.username or "",
        "REFERENCE_DB_PASSWORD": url.password or "",
        "REFERENCE_DB_NAME": url.database or "catalog",
    }


def start_reference(stack: OwnStack, label: str, cached: bool, node_modules: Path) -> str:
    """One Node process (the peer runs one) with the cache on or off; returns its base URL."""
    port = free_port()
    plan = stack.plans["catalog"]
    env = {
        **database_env(plan.database_url),
        "REFERENCE_PORT": str(port),
        "REFERENCE_REDIS_URL": plan.redis_url,
        "REFERENCE_CACHE": "on" if cached else "off",
        "REFERENCE_RATE_LIMIT": RATE_LIMIT,
        "NODE_PATH": str(node_modules),
        "NODE_ENV": "production",
    }
    node = shutil.which("node") or "node"
    stack.say(f"stack: starting the Node reference '{label}' on {port} (cache {'on' if cached else 'off'})")
    argv = [node, str(SOURCE / "server.js")]
    proc = processes.spawn(label, argv, stack.log(label), env=env, cwd=ROOT, port=port)
    stack.keep(label, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise ReferenceError(f"{label} exited ({proc.process.returncode}); see {stack.log(label)}")
        try:
            if httpx.get(f"{url}/health", timeout=1, trust_env=False).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ReferenceError(f"{label} did not answer {url}/health within 30 s; see {stack.log(label)}")


def ensure_fulltext(root_url: str, say: Say = print) -> float | None:
    """Adds FULLTEXT (name, description) to catalog.products for the reference's search, as the peer's
    schema has it; returns the seconds it took (None: it was there). InnoDB rebuilds the table to add
    its first FULLTEXT index, so this runs after the scenarios that write products."""
    engine = create_engine(root_url)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = 'catalog'"
                    " AND table_name = 'products' AND index_name = :name"
                ),
                {"name": FULLTEXT_INDEX},
            ).scalar()
            if exists:
                return None
            say("B8: adding FULLTEXT (name, description) to catalog.products for the reference's search")
            started = time.monotonic()
            # A transaction left open on products would make the ALTER wait forever: bounded here.
            conn.execute(text(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_S}"))
            conn.execute(
                text(f"ALTER TABLE catalog.products ADD FULLTEXT INDEX {FULLTEXT_INDEX} (name, description)")
            )
            return time.monotonic() - started
    finally:
        engine.dispose()
