"""The system health report behind GET /health: every service and dependency with state and latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from catalog_service.health_probe import ProbeResult, timed
from catalog_service.metrics import HEALTH_REPORTS_COMPUTED
from farmlokal_common.errors import ServiceError
from farmlokal_common.single_flight import SingleFlight

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
    """The aggregate is computed at most once per `max_age_seconds` in a process and shared: callers
    within that second get the last report, and callers arriving while it is computed wait for it
    (single-flight), so a flood of /health polls costs one round of probes a second, not one each."""

    def __init__(
        self, probes: list[Probe], version: str, timeout_seconds: float = 2.0, max_age_seconds: float = 1.0
    ) -> None:
        self._probes = probes
        self._version = version
        self._timeout = timeout_seconds
        self._max_age = max_age_seconds
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="health")
        self._flight: SingleFlight[_Checked] = SingleFlight()
        self._last: _Checked | None = None

    def report(self) -> HealthReport:
        last = self._last
        if last is None or time.monotonic() - last.at >= self._max_age:
            last = self._flight.do("health", self._check_all)
        return HealthReport(last.status, self._version, int(time.monotonic() - self._started), last.checks)

    def ready(self) -> bool:
        return self.report().status != DOWN

    def _check_all(self) -> _Checked:
        HEALTH_REPORTS_COMPUTED.inc()
        futures = {
            probe.name: (probe, self._pool.submit(timed_with_reason, probe.check)) for probe in self._probes
        }
        # One deadline for all: the probes run in parallel, so the report takes the slowest, at most.
        wait([future for _, future in futures.values()], timeout=self._timeout)
        checks: dict[str, tuple[str, ProbeResult]] = {}
        status = OK
        for name, (probe, future) in futures.items():
            result = future.result() if future.done() else ProbeResult(False, self._timeout * 1000, "timeout")
            state = OK if result.ok else (DOWN if probe.essential else DEGRADED)
            checks[name] = (state, result)
            if state == DOWN:
                status = DOWN
            elif state == DEGRADED and status == OK:
                status = DEGRADED
        checked = _Checked(status, checks, time.monotonic())
        self._last = checked
        return checked


@dataclass(frozen=True)
class _Checked:
    status: str
    checks: dict[str, tuple[str, ProbeResult]]
    at: float  # time.monotonic() when the probes finished
