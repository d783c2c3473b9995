"""Retry policy: full-jitter exponential backoff with a cap, bounded by the caller's deadline."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay_seconds: float = 0.1
    max_delay_seconds: float = 2.0
    max_retry_after_seconds: float = 10.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Delay before attempt+1 (attempt counts from 1): full jitter, or Retry-After up to its cap."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_seconds)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


@dataclass(frozen=True)
class Deadline:
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def allows(self, delay: float) -> bool:
        return delay < self.remaining()
