"""Server interceptors: request context and logging, error mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

UnaryBehavior = Callable[[Any, grpc.ServicerContext], Any]


def wrap_unary(
    handler: grpc.RpcMethodHandler | None, wrap: Callable[[UnaryBehavior], UnaryBehavior]
) -> grpc.RpcMethodHandler | None:
    """Returns the handler with its unary-unary behaviour wrapped; streaming handlers pass through."""
    if handler is None or handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
