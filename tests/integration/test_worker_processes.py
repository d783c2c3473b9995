"""Several worker processes per service: a worker that cannot start takes the service down, loudly."""

from __future__ import annotations

import socket
import subprocess
import sys

from devstack.processes import free_port


def _taken_port_with_a_free_successor() -> socket.socket:
    """A listening socket on port p where p + 1 (worker 1's metrics port) is free: otherwise both
    workers fail and the test would not show which one's failure is logged."""
    while True:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", taken.getsockname()[1] + 1))
            return taken
        except OSError:
            taken.close()
        finally:
            probe.close()


def test_a_worker_that_cannot_bind_its_metrics_port_fails_the_service_with_a_log_line() -> None:
    taken = _taken_port_with_a_free_successor()
    metrics_port = taken.getsockname()[1]
    env = {
        "AUTH_WORKERS": "2",
        "AUTH_GRPC_PORT": str(free_port()),
        "AUTH_METRICS_PORT": str(metrics_port),  # worker 0 collides, worker 1 gets the next port
        "PATH": "/usr/bin:/bin",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "auth_service"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        taken.close()
    assert result.returncode != 0
    assert '"msg": "worker failed"' in result.stderr and '"worker": 0' in result.stderr
    assert "worker processes failed" in result.stderr
