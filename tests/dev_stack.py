"""`make up` as a test fixture: `python -m devstack up --no-seed` on free ports with given settings, then down."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from devstack import processes, stack

ROOT = Path(__file__).resolve().parent.parent
PORT_SETTINGS = (
    "FARMLOKAL_MARIADB_PORT",
    "FARMLOKAL_REDIS_PORT",
    "FARMLOKAL_SANDBOX_PORT",
    "FARMLOKAL_EDGE_PORT",
    "FARMLOKAL_EDGE_ADMIN_PORT",
    *(f"{service}_{kind}_PORT" for service in ("CATALOG", "WEBHOOK", "AUTH") for kind in ("GRPC", "METRICS")),
)


def free_port_env(run_dir: Path) -> dict[str, str]:
    """Every port setting of the dev stack on a free port, its run directory under run_dir."""
    return {"FARMLOKAL_RUN_DIR": str(run_dir), **{name: str(processes.free_port()) for name in PORT_SETTINGS}}


@contextlib.contextmanager
def dev_stack(run_dir: Path, settings: dict[str, str], timeout: float = 300) -> Iterator[stack.StackConfig]:
    """The dev stack as `make up` starts it (settings on top of the environment), stopped afterwards."""
    env = {**os.environ, **free_port_env(run_dir), **settings}
    cfg = stack.StackConfig.from_env(env)
    log = run_dir / "make-up.log"
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "devstack", "up", "--no-seed"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"make up failed (exit {result.returncode}):\n{processes.tail(log, 40)}")
        yield cfg
    finally:
        subprocess.run(
            [sys.executable, "-m", "devstack", "down"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
            check=False,
        )
