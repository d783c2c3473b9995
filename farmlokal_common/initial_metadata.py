"""A unary call's response headers sent in the batch that carries its response, not in one of their own.

grpc's sync server sends what `ServicerContext.send_initial_metadata` is given at once, in a batch of
its own: one more operation and completion per call. Without that call it still sends initial
metadata, empty, in the last batch with the response and the status (grpc._server._status), and the
public API has no way to fill it then. `send_with_response` leaves the headers on the call's state,
where the hook installed below (around grpc._server._get_initial_metadata, which builds that empty
metadata) finds them.

That reaches into grpc's private module, so the hook is installed only where grpc has the shape it
was written against (grpcio pinned in pyproject.toml), and `send_with_response` falls back to
send_initial_metadata otherwise: tests/integration/common/test_initial_metadata.py holds both.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc import _server

_ATTRIBUTE = "farmlokal_initial_metadata"
_original = getattr(_server, "_get_initial_metadata", None)
_RPCState: Any = getattr(_server, "_RPCState", None)


def _get_initial_metadata(state: Any, metadata: Any) -> Any:
    if metadata is None:
        metadata = getattr(state, _ATTRIBUTE, None)
    return _original(state, metadata)  # type: ignore[misc]


HOOKED = (
    callable(_original)
    and getattr(_original, "__module__", "") == _server.__name__  # grpc's own, not wrapped already
    and _RPCState is not None
    and not hasattr(_RPCState, "__slots__")
)
if HOOKED:
    _server._get_initial_metadata = _get_initial_metadata


def send_with_response(context: grpc.ServicerContext, headers: tuple[tuple[str, str], ...]) -> None:
    """Sends `headers` as the call's initial metadata, with its response when grpc allows it."""
    state = getattr(context, "_state", None)
    if HOOKED and isinstance(state, _RPCState):
        with state.condition:
            if state.initial_metadata_allowed:
                setattr(state, _ATTRIBUTE, headers)
                return
    context.send_initial_metadata(headers)
