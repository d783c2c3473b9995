"""Maps the shared error tree to gRPC status with google.rpc details; hides unexpected errors."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from farmlokal_common import response_headers
from farmlokal_common.dependency_errors import as_unavailable
from farmlokal_common.errors import ServiceError, internal_status
from farmlokal_common.interceptors import UnaryBehavior, wrap_unary

log = logging.getLogger("farmlokal.errors")


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def abort_with(context: grpc.ServicerContext, rpc: status_pb2.Status, *extra: tuple[str, str]) -> None:
    """Aborts with rich details; headers gathered for the response travel as trailing metadata."""
    status = rpc_status.to_status(rpc)
    context.abort_with_status(
        _Status(
            status.code,
            status.details,
            (*status.trailing_metadata, *response_headers.pending(), *extra),
        )
    )


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """ServiceError → its status and details; MySQL or Redis unreachable → UNAVAILABLE naming it, logged
    without a trace; anything else → INTERNAL, logged once with its trace."""

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behavior(request, context)
                except ServiceError as error:
                    abort_with(context, error.to_rpc_status(), *error.trailing_metadata())
                except Exception as error:
                    if context.code() not in (None, grpc.StatusCode.OK):
                        raise  # context.abort() already chose the status
                    outage = as_unavailable(error)
                    if outage is None:
                        log.exception("unexpected error", extra={"error_type": type(error).__name__})
                        abort_with(context, internal_status())
                    else:
                        log.warning(
                            "dependency unavailable",
                            extra={"error_type": type(error).__name__, "reason": outage.message},
                        )
                        abort_with(context, outage.to_rpc_status())

            return guarded

        return wrap_unary(continuation(handler_call_details), wrap)
