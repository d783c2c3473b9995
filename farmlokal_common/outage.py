"""Stepping aside from a dependency that just failed, for a short back-off (the response cache, the
rate limiter and the circuit breaker's shared state use it for Redis).

A Redis that accepts connections and never answers costs each call its full socket timeout. After
one failure, callers skip Redis until the back-off ends (then one call tries again), so an outage
costs a few calls one timeout each instead of every call.
"""

from __future__ import annotations

import time


class Backoff:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._until = 0.0

    def active(self) -> bool:
        return time.monotonic() < self._until

    def trip(self) -> bool:
        """Starts (or extends) the back-off; True when no back-off was running (a new outage)."""
        now = time.monotonic()
        fresh = now >= self._until
        self._until = now + self._seconds
        return fresh
