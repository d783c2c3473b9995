"""What belongs to the call being served (request id, RPC, arrival, deadline), for code below the servicer.

grpc runs each call's interceptors (on the server's polling thread, as the call arrives) and its
behaviour (later, on a pool thread) in one contextvars.Context made for that call. So what is set
here is seen by the logs, the database engines (statement limits, the bulkhead), the rate limiter
and outgoing gRPC calls of that call only, without passing it through every signature.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

REQUEST_ID_HEADER = "x-request-id"
# grpc reports a call without a deadline as about 9.2e18 seconds remaining.
_NO_DEADLINE_SECONDS = 1e9


class _Call(NamedTuple):
    request_id: str
    rpc: str
    time_remaining: Callable[[], float]


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("call", default=None)
_arrived: contextvars.ContextVar[float] = contextvars.ContextVar("arrived", default=0.0)


def current_request_id() -> str:
    call = _call.get()
    return call.request_id if call is not None else ""


def current_rpc() -> str:
    call = _call.get()
    return call.rpc if call is not None else ""


def new_request_id() -> str:
    return str(uuid.uuid4())


def serving() -> bool:
    """True on a thread serving a call (False on background workers)."""
    return _call.get() is not None


def time_remaining() -> float | None:
    """Seconds before the served call's deadline (0 once passed); None outside a call or without one."""
    call = _call.get()
    if call is None:
        return None
    remaining = call.time_remaining()
    return None if remaining > _NO_DEADLINE_SECONDS else remaining


def mark_arrival() -> None:
    """Called as the call arrives, before it waits for a serving thread."""
    _arrived.set(time.monotonic())


def seconds_since_arrival() -> float:
    """How long ago the call arrived (0 when its arrival was not marked)."""
    arrived = _arrived.get()
    return time.monotonic() - arrived if arrived else 0.0


def bind(request_id: str, rpc: str, time_remaining: Callable[[], float]) -> contextvars.Token[_Call | None]:
    """`time_remaining` is the call's own (grpc.ServicerContext.time_remaining), read when needed."""
    return _call.set(_Call(request_id, rpc, time_remaining))


def unbind(token: contextvars.Token[_Call | None]) -> None:
    _call.reset(token)
