"""Server interceptors: request context and logging, error mapping, rate limiting.

Each interceptor wraps a method's handler using the method name alone and reads what belongs to a
call (its metadata, its peer) from the call's context. So the wrapped handler of a method can be
built once and reused for every call (`PerMethodChain`) instead of rebuilt per call, which is what
grpc does with a plain list of interceptors.

`PerMethodChain` runs on the server's polling thread as each call arrives (grpc asks interceptors
for the handler then, and queues the behaviour for a pool thread), so it marks the arrival there:
the rate limiter charges a request at its arrival, not when a thread got to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import grpc

from farmlokal_common import request_context

UnaryBehavior = Callable[[Any, grpc.ServicerContext], Any]
# grpc's own services, whose streaming methods (health Watch, reflection) no interceptor needs to see.
FRAMEWORK_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
log = logging.getLogger("farmlokal.server")


class StreamingNotSupported(TypeError):
    """A streaming method of ours: the interceptors (errors, logging, limits) only wrap unary calls."""


def wrap_unary(
    handler: grpc.RpcMethodHandler | None, wrap: Callable[[UnaryBehavior], UnaryBehavior]
) -> grpc.RpcMethodHandler | None:
    """Returns the handler with its unary-unary behaviour wrapped. Streaming handlers pass through:
    only grpc's own services have them, PerMethodChain refuses any other."""
    if handler is None or handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _MethodOnly(NamedTuple):
    """Call details without the call: an interceptor building a handler sees the method name only."""

    method: str
    invocation_metadata: tuple[tuple[str, str | bytes], ...] = ()


class PerMethodChain(grpc.ServerInterceptor):
    """Applies `interceptors` (outermost first) once per method and serves every later call from that.

    Only methods the server knows are remembered, so unknown names sent by clients cannot grow it.
    """

    def __init__(self, interceptors: Sequence[grpc.ServerInterceptor]) -> None:
        self._interceptors = tuple(interceptors)
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._lock = threading.Lock()

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        request_context.mark_arrival()
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        _refuse_streaming(method, continuation(_MethodOnly(method)))
        handler = self._build(continuation, _MethodOnly(method))
        if handler is not None:
            with self._lock:
                handler = self._handlers.setdefault(method, handler)
        return handler

    def _build(self, continuation: Any, details: _MethodOnly) -> grpc.RpcMethodHandler | None:
        def at(index: int) -> Callable[[Any], grpc.RpcMethodHandler | None]:
            if index == len(self._interceptors):
                return lambda d: continuation(d)
            return lambda d: self._interceptors[index].intercept_service(at(index + 1), d)

        return at(0)(details)


def _refuse_streaming(method: str, handler: grpc.RpcMethodHandler | None) -> None:
    """A streaming method would skip error mapping, logging and rate limits unseen: fail its calls
    loudly (and log why) until the interceptors learn to wrap it."""
    if handler is None or handler.unary_unary is not None or method.startswith(FRAMEWORK_SERVICES):
        return
    log.error("streaming method refused", extra={"method": method})
    raise StreamingNotSupported(
        f"{method} is a streaming method; farmlokal_common.interceptors wrap unary calls only"
    )


def metadata_value(context: grpc.ServicerContext, key: str) -> str:
    """The first text value of a request header ('' when absent)."""
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return ""
