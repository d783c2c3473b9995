"""Process-local single-flight: concurrent callers with the same key share one computation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """The first caller of a key computes; callers arriving meanwhile wait for and share its outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def do(self, key: str, compute: Callable[[], T], wait_seconds: float | None = None) -> T:
        """compute() or the outcome of the call already computing `key`; a caller that waits longer
        than `wait_seconds` for it gets TimeoutError (None: as long as the computation takes)."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            if not call.done.wait(wait_seconds):
                raise TimeoutError(f"waited {wait_seconds} s for another caller's computation")
            if call.error is not None:
                raise call.error
            return call.result  # type: ignore[return-value]
        try:
            call.result = compute()
            return call.result
        except BaseException as error:
            call.error = error
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
