"""Headers a call wants on its REST response, sent once as initial (or, on error, trailing) metadata.

gRPC allows initial metadata to be sent only once, so every layer (rate limiter, HTTP status,
cache) adds its headers here and the request interceptor sends them together, in the batch that
carries the response (farmlokal_common/initial_metadata.py).
"""

from __future__ import annotations

import contextvars

HTTP_STATUS_HEADER = "x-http-status"

_pending: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "response_headers", default=None
)


def begin() -> contextvars.Token[dict[str, str] | None]:
    return _pending.set({})


def end(token: contextvars.Token[dict[str, str] | None]) -> None:
    _pending.reset(token)


def add(name: str, value: str) -> None:
    headers = _pending.get()
    if headers is not None:
        headers[name.lower()] = value


def set_http_status(status: int) -> None:
    """Chooses the REST status of a successful response (Envoy's Lua filter applies it)."""
    add(HTTP_STATUS_HEADER, str(status))


def pending() -> tuple[tuple[str, str], ...]:
    return tuple((_pending.get() or {}).items())
