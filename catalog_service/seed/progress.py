"""The seeder's progress display: a line per phase (generating, loading each table, building the
indexes, analyzing), so a long seed never sits silent at 100% while the database still works."""

from __future__ import annotations

import sys
import threading
from typing import Protocol

from tqdm import tqdm


class Phase(Protocol):
    def advance(self, n: int) -> None: ...

    def done(self) -> None: ...


class Progress(Protocol):
    def phase(self, name: str, total: int | None = None, unit: str = "rows") -> Phase:
        """A phase counted in units, `total` of them if known."""
        ...

    def step(self, name: str) -> Phase:
        """A phase with nothing to count (one statement, e.g. an index build): shown by its time."""
        ...


class _NoPhase:
    def advance(self, n: int) -> None:
        pass

    def done(self) -> None:
        pass


class NoProgress:
    """For callers that show nothing (tests, benches)."""

    def phase(self, name: str, total: int | None = None, unit: str = "rows") -> Phase:
        return _NoPhase()

    def step(self, name: str) -> Phase:
        return _NoPhase()


class _BarPhase:
    def __init__(self, bar: tqdm, lock: threading.Lock, open_bars: list[tqdm]) -> None:
        self._bar, self._lock, self._open = bar, lock, open_bars

    def advance(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def done(self) -> None:
        with self._lock:
            if self._bar in self._open:
                self._open.remove(self._bar)
                self._bar.set_postfix_str("done", refresh=False)
                self._bar.close()


class BarProgress:
    """tqdm bars on stderr, one line per phase; a ticker redraws open phases every second, so one
    that has no countable steps (an ALTER TABLE building indexes) still shows its time passing."""

    def __init__(self, tick_seconds: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._open: list[tqdm] = []
        self._lines = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick_seconds,), daemon=True)
        self._ticker.start()

    def phase(self, name: str, total: int | None = None, unit: str = "rows") -> Phase:
        return self._open_bar(name, total, unit, None)

    def step(self, name: str) -> Phase:
        return self._open_bar(name, None, "", "{desc}: {elapsed}{postfix}")

    def _open_bar(self, name: str, total: int | None, unit: str, bar_format: str | None) -> Phase:
        with self._lock:
            bar = tqdm(
                total=total,
                desc=name,
                unit=unit,
                unit_scale=True,
                position=self._lines,
                file=sys.stderr,
                bar_format=bar_format,
            )
            self._lines += 1
            self._open.append(bar)
        return _BarPhase(bar, self._lock, self._open)

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        with self._lock:
            for bar in self._open:
                bar.close()
            self._open.clear()

    def _tick(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            with self._lock:
                for bar in self._open:
                    bar.refresh()
