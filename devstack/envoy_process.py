"""Starts Envoy on a rendered edge config and waits until it serves (dev stack, test fixtures, bench)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from devstack.processes import ManagedProcess, port_in_use, spawn, tail
from farmlokal_edge import envoy_binary

# Envoy sets PR_SET_PDEATHSIG: it gets SIGTERM when its parent exits, which would end it as soon as
# `make up` returns. A shell that waits for it stays its parent for as long as it runs.
KEEPER = 'envoy="$1"; shift; "$envoy" "$@"; exit $?'


def envoy_argv(config_path: Path) -> list[str]:
    return [
        envoy_binary(),
        "-c",
        str(config_path),
        "--use-dynamic-base-id",
        "--log-level",
        "info",
        "--drain-time-s",
        "1",
    ]


def start_envoy(
    config_path: Path,
    admin_port: int,
    listen_port: int,
    log_path: Path,
    *,
    outlive_parent: bool = False,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> ManagedProcess:
    """Starts Envoy and returns once the admin port reports LIVE and the listener accepts.

    `outlive_parent` runs it under a keeper shell, so it keeps running after this process exits
    (`make up`); the returned process is then the keeper, whose group holds Envoy.
    """
    argv = envoy_argv(config_path)
    if outlive_parent:
        argv = ["sh", "-c", KEEPER, "envoy-keeper", *argv]
    proc = spawn("envoy", argv, log_path, cwd=cwd, port=listen_port)
    try:
        wait_until_ready(proc, admin_port, listen_port, timeout)
    except BaseException:
        proc.stop(timeout=5)
        raise
    return proc


def wait_until_ready(proc: ManagedProcess, admin_port: int, listen_port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(
                    f"envoy exited with code {proc.process.returncode}; see {proc.log_path}:\n"
                    + tail(proc.log_path, 30)
                )
            try:
                answer = client.get(f"http://127.0.0.1:{admin_port}/ready")
                last = f"{answer.status_code} {answer.text.strip()}"
                if answer.text.strip() == "LIVE" and port_in_use(listen_port):
                    return
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.05)
    raise TimeoutError(f"envoy not ready within {timeout:.0f}s (last: {last}); see {proc.log_path}")
