"""Faults the sandbox supplier can inject, per request or for the next N requests, and its hit counters.

Kinds: `latency` (answer normally after latency_ms), `error` (status 500 or 503), `rate_limit` (429
with Retry-After), `hang` (no answer for hang_seconds, past any client timeout), `reset` (the
connection is closed without a response) and `unauthorized` (one 401 with invalid_token).

The reset: raising in an ASGI app only makes the server answer 500, so the response aborts the
socket itself. Starlette wraps the server's `send` in closures; following them leads to uvicorn's
bound `send`, whose cycle holds the asyncio transport. SO_LINGER 0 and `transport.abort()` then
make the kernel send a RST with no HTTP bytes at all: the client sees "connection reset" or
"server disconnected without sending a response", as from a crashed upstream or a dropped NAT.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

KINDS = ("latency", "error", "rate_limit", "hang", "reset", "unauthorized")


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 503
    retry_after: int = 1
    latency_ms: int = 0
    hang_seconds: float = 30.0

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> Fault:
        """From JSON or a header's `kind=error;status=500`; ValueError names what is wrong."""
        kind = str(fields.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        fault = cls(
            kind=kind,
            status=int(fields.get("status", 503)),
            retry_after=int(fields.get("retry_after", 1)),
            latency_ms=int(fields.get("latency_ms", 0)),
            hang_seconds=float(fields.get("hang_seconds", 30.0)),
        )
        if kind == "error" and fault.status not in (500, 502, 503, 504):
            raise ValueError("an error fault's status must be 500, 502, 503 or 504")
        return fault

    @classmethod
    def from_header(cls, value: str) -> Fault:
        pairs = (item.split("=", 1) for item in value.split(";") if "=" in item)
        return cls.parse({k.strip(): v.strip() for k, v in pairs})

    @property
    def outcome(self) -> str:
        """The name hits are counted under."""
        if self.kind == "error":
            return f"error_{self.status}"
        return self.kind


class FaultBoard:
    """Faults queued for the next requests, in order; each entry serves `count` requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[list[Any]] = deque()

    def add(self, fault: Fault, count: int) -> None:
        with self._lock:
            self._queue.append([fault, count])

    def next(self) -> Fault | None:
        with self._lock:
            if not self._queue:
                return None
            entry = self._queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._queue.popleft()
            return entry[0]  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**asdict(fault), "remaining": count} for fault, count in self._queue]


class HitCounter:
    """Requests to the supplier API: total, by outcome, and when each came (for timing tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_outcome: Counter[str] = Counter()
            self._times: deque[tuple[float, str]] = deque(maxlen=2000)

    def record(self, outcome: str) -> None:
        with self._lock:
            self._by_outcome[outcome] += 1
            self._times.append((time.time(), outcome))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_outcome.values()),
                "by_outcome": dict(self._by_outcome),
                "hits": [{"at": at, "outcome": outcome} for at, outcome in self._times],
            }


class ConnectionReset(Response):
    """Sends nothing: closes the client's TCP connection with a RST (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _find_transport(send)
        if transport is None:  # not under uvicorn (e.g. httpx's ASGI transport): the closest thing
            raise ConnectionResetError("no transport to reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0.01)  # lets the server see the connection lost before the app returns


def _find_transport(send: Any, depth: int = 8) -> asyncio.Transport | None:
    """Follows the `send` each Starlette wrapper closes over, down to the server's bound method."""
    for _ in range(depth):
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if isinstance(transport, asyncio.Transport):
            return transport
        code, closure = getattr(send, "__code__", None), getattr(send, "__closure__", None)
        if code is None or not closure:
            return None
        cells = dict(zip(code.co_freevars, closure, strict=True))
        if "send" not in cells:
            return None
        send = cells["send"].cell_contents
    return None
