"""How a process's background workers wait for work: backing off while idle, woken when work arrives.

Every poll is a transaction on MySQL, so idle workers polling at a fixed short interval kept a
replica busy doing nothing (4 event workers and a delivery worker at 0.2 s: 2.6% of a core). An idle
worker now doubles its wait up to `max_idle_seconds`; work stored in this process (an inbound
event, a published catalog change) wakes every worker at once, so it is picked up without waiting.
Work stored by another replica waits at most `max_idle_seconds`.
"""

from __future__ import annotations

import threading
import time

_MAX_DOUBLINGS = 32


class Pacing:
    def __init__(self, idle_seconds: float, max_idle_seconds: float) -> None:
        self._idle = idle_seconds
        self._max_idle = max(idle_seconds, max_idle_seconds)
        self._woken = threading.Condition()
        self._wakes = 0
        self._due: dict[str, float] = {}
        self._due_lock = threading.Lock()

    def wake(self) -> None:
        """Work arrived (or the process is stopping): every waiting worker looks now."""
        with self._woken:
            self._wakes += 1
            self._woken.notify_all()

    def idle(self, empty_polls: int) -> None:
        """Waits after `empty_polls` polls in a row found nothing (1 = the first), or until woken."""
        # The exponent is capped: a float overflows at 2 ** 1024, and a worker woken for others' work
        # (every inbound event wakes every worker) counts empty polls fast.
        timeout = min(self._idle * 2 ** min(max(0, empty_polls - 1), _MAX_DOUBLINGS), self._max_idle)
        with self._woken:
            seen = self._wakes
            self._woken.wait_for(lambda: self._wakes != seen, timeout)

    def due(self, chore: str, every_seconds: float) -> bool:
        """True at most once per `every_seconds` for the whole process: chores several worker threads
        share (reaping expired leases, reading the backlog's age) run once, not once per thread."""
        now = time.monotonic()
        with self._due_lock:
            if now < self._due.get(chore, 0.0):
                return False
            self._due[chore] = now + every_seconds
            return True

    def watch(self, stopping: threading.Event) -> None:
        """A background task: wakes every worker when the process stops, so none sleeps through it."""
        stopping.wait()
        self.wake()
