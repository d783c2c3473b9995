"""The request id of the call being served, visible to logs and outgoing gRPC calls."""

from __future__ import annotations

import contextvars
import uuid

REQUEST_ID_HEADER = "x-request-id"

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_rpc: contextvars.ContextVar[str] = contextvars.ContextVar("rpc", default="")


def current_request_id() -> str:
    return _request_id.get()


def current_rpc() -> str:
    return _rpc.get()


def new_request_id() -> str:
    return str(uuid.uuid4())


def bind(request_id: str, rpc: str) -> tuple[contextvars.Token[str], contextvars.Token[str]]:
    return _request_id.set(request_id), _rpc.set(rpc)


def unbind(tokens: tuple[contextvars.Token[str], contextvars.Token[str]]) -> None:
    _request_id.reset(tokens[0])
    _rpc.reset(tokens[1])
