"""Responses that are already serialized (e.g. from the response cache) go out as they are.

A servicer may return `Prebuilt(bytes)` instead of a message: the interceptor below gives every
handler a serializer that passes such bytes through, saving a parse and a re-serialization.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


class Prebuilt(bytes):
    """The wire form of a response message."""


def _passthrough(serialize: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    def serializer(response: Any) -> bytes:
        if isinstance(response, Prebuilt):
            return bytes(response)
        return serialize(response) if serialize is not None else bytes(response)

    return serializer


class PrebuiltResponseInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            handler.unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=_passthrough(handler.response_serializer),
        )
