"""The system health report behind GET /health: every service and dependency with state and latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from farmlokal_common.errors import ServiceError
from farmlokal_common.health_probe import ProbeResult, timed

OK, DEGRADED, DOWN = "ok", "degraded", "down"


@dataclass(frozen=True)
class Probe:
    name: str
    check: Callable[[], None]
    # A failing essential probe makes the system down; any other makes it degraded.
    essential: bool


@dataclass(frozen=True)
class HealthReport:
    status: str
    version: str
    uptime_seconds: int
    checks: dict[str, tuple[str, ProbeResult]]


def timed_with_reason(check: Callable[[], None]) -> ProbeResult:
    """timed(check); a failure that is a ServiceError also gives its message, which the error tree
    keeps safe to show (no address, no secret): e.g. why the token broker has no token."""
    reasons: list[str] = []

    def run() -> None:
        try:
            check()
        except ServiceError as error:
            reasons.append(error.message)
            raise

    result = timed(run)
    return replace(result, detail=reasons[0]) if reasons else result


class HealthReporter:
    def __init__(self, probes: list[Probe], version: str, timeout_seconds: float = 2.0) -> None:
        self._probes = probes
        self._version = version
        self._timeout = timeout_seconds
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="health")

    def report(self) -> HealthReport:
        futures = {
            probe.name: (probe, self._pool.submit(timed_with_reason, probe.check)) for probe in self._probes
        }
        checks: dict[str, tuple[str, ProbeResult]] = {}
        status = OK
        for name, (probe, future) in futures.items():
            try:
                result = future.result(timeout=self._timeout)
            except TimeoutError:
                result = ProbeResult(False, self._timeout * 1000, "timeout")
            state = OK if result.ok else (DOWN if probe.essential else DEGRADED)
            checks[name] = (state, result)
            if state == DOWN:
                status = DOWN
            elif state == DEGRADED and status == OK:
                status = DEGRADED
        return HealthReport(status, self._version, int(time.monotonic() - self._started), checks)

    def ready(self) -> bool:
        return self.report().status != DOWN
