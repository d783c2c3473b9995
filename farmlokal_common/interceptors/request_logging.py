"""Binds the request id to the call and logs one JSON line per RPC with its code and duration."""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc

from farmlokal_common import request_context, response_headers
from farmlokal_common.interceptors import UnaryBehavior, wrap_unary
from farmlokal_common.metrics import RPC_LATENCY

log = logging.getLogger("farmlokal.rpc")
_QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _request_id(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    for key, value in metadata or ():
        if key == request_context.REQUEST_ID_HEADER and isinstance(value, str) and value:
            return value[:128]
    return request_context.new_request_id()


class RequestLoggingInterceptor(grpc.ServerInterceptor):
    """Outermost interceptor: everything below it logs with the caller's x-request-id."""

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        quiet = method.startswith(_QUIET)
        request_id = _request_id(handler_call_details.invocation_metadata)

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            def logged(request: Any, context: grpc.ServicerContext) -> Any:
                tokens = request_context.bind(request_id, method)
                headers_token = response_headers.begin()
                started = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    response = behavior(request, context)
                    code = context.code() or grpc.StatusCode.OK
                    headers = response_headers.pending()
                    if headers and code == grpc.StatusCode.OK:
                        context.send_initial_metadata(headers)
                    return response
                except BaseException:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    elapsed = time.perf_counter() - started
                    RPC_LATENCY.labels(method, code.name).observe(elapsed)
                    if not quiet:
                        log.info("rpc", extra={"code": code.name, "duration_ms": round(elapsed * 1000, 2)})
                    response_headers.end(headers_token)
                    request_context.unbind(tokens)

            return logged

        return wrap_unary(continuation(handler_call_details), wrap)
