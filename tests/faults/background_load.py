"""A bounded open-loop load through the edge that records every answer with its time, for fault tests."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic() when the request left
    seconds: float
    status: int  # 0: no HTTP answer (transport error)
    body: str


@dataclass
class BackgroundLoad:
    """`rate` requests per second cycling over `requests` (path, params) on a few threads, until stop()
    or `max_seconds`. Requests leave on schedule however slow the answers are (up to `threads` in flight).
    """

    base_url: str
    requests: Sequence[tuple[str, dict[str, str]]]
    rate: float = 20.0
    threads: int = 16
    max_seconds: float = 60.0
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._schedule = itertools.count()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]

    def __enter__(self) -> BackgroundLoad:
        self._started = time.monotonic()
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=20, trust_env=False) as client:
            while not self._stop.is_set():
                with self._lock:
                    index = next(self._schedule)
                due = self._started + index / self.rate
                if due - self._started > self.max_seconds:
                    return
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                path, params = self.requests[index % len(self.requests)]
                started = time.monotonic()
                try:
                    response = client.get(path, params=params)
                    answer = Answer(started, time.monotonic() - started, response.status_code, response.text)
                except httpx.HTTPError as error:
                    answer = Answer(started, time.monotonic() - started, 0, repr(error))
                with self._lock:
                    self.answers.append(answer)

    def between(self, start: float, end: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if start <= a.started < end]

    def errors(self, start: float = 0.0, end: float = float("inf")) -> list[Answer]:
        return [a for a in self.between(start, end) if a.status != 200]
