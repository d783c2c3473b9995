"""Refuses hostile request text with a 400 naming the field, before any servicer sees the request.

Three checks, one place, every RPC of every service:
- a request the protobuf runtime cannot decode (invalid UTF-8 in a string field, through the edge:
  `?q=%ed%a0%80abc`) is INVALID_ARGUMENT naming the field, not grpc's INTERNAL "Exception
  deserializing request!" with a traceback. grpc deserializes before any interceptor runs, so the
  handler's deserializer is wrapped to hand such bytes on as `UndecodableRequest`, and the refusal
  happens in the behaviour: inside the rate limiter, so these requests are counted like others;
- in public services (internal callers validate their own writes, with larger fields), every string
  field, recursively: no control characters, at most `max_text_chars` characters (request_text);
- a REST query parameter that would override a field the route binds in its path or body
  (`/v1/products/1?id=2`, http_bindings) is refused.

Registered innermost, so the services' own interceptors (the rate limiter) run first. The per-method
work (descriptor lookup, route bindings) is done once when the chain is built; a call pays a type
check, the text check of the fields it set, and the query parse only when it came through the
transcoder with a query string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import DecodeError

from farmlokal_common import api_surface
from farmlokal_common.errors import FieldViolation, InvalidArgument
from farmlokal_common.http_bindings import bound_fields, colliding_parameter
from farmlokal_common.interceptors import UnaryBehavior, metadata_value
from farmlokal_common.proto_wire import invalid_utf8_field
from farmlokal_common.request_text import text_violation

__all__ = ["ORIGINAL_PATH_HEADER", "RequestValidationInterceptor", "UndecodableRequest"]

# Set by Envoy's gRPC-JSON transcoder on the requests it made from REST ones.
ORIGINAL_PATH_HEADER = "x-envoy-original-path"


class UndecodableRequest(NamedTuple):
    """What the wrapped deserializer hands on when the request's bytes do not parse."""

    raw: bytes


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def deserializer(raw: bytes) -> Any:
        if deserialize is None:
            return raw
        try:
            return deserialize(raw)
        except DecodeError:
            return UndecodableRequest(raw)

    return deserializer


def undecodable(raw: bytes, request_type: Descriptor) -> InvalidArgument:
    field = invalid_utf8_field(raw, request_type)
    if field is None:
        return InvalidArgument(
            FieldViolation("request", f"the request is not a well-formed {request_type.full_name}")
        )
    return InvalidArgument(FieldViolation(field, f"{field} must be valid UTF-8 text"))


def _collision(context: grpc.ServicerContext, bound: dict[str, str]) -> InvalidArgument | None:
    original_path = metadata_value(context, ORIGINAL_PATH_HEADER)
    if "?" not in original_path:
        return None
    found = colliding_parameter(original_path, bound)
    if found is None:
        return None
    parameter, field, place = found
    return InvalidArgument(
        FieldViolation(
            parameter, f"query parameter {parameter} is not allowed: {field} is part of the {place}"
        )
    )


def _method(full_method: str) -> MethodDescriptor | None:
    """'/pkg.Service/Method' → its descriptor, from the stubs the service imported."""
    try:
        return descriptor_pool.Default().FindMethodByName(full_method.lstrip("/").replace("/", "."))
    except KeyError:
        return None


class RequestValidationInterceptor(grpc.ServerInterceptor):
    """Streaming handlers pass through: no public RPC streams, and their requests are not REST."""

    def __init__(self, max_text_chars: int) -> None:
        self._max_text_chars = max_text_chars

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = _method(handler_call_details.method)
        if handler is None or handler.unary_unary is None or method is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: UnaryBehavior, method: MethodDescriptor) -> UnaryBehavior:
        request_type = method.input_type
        bound = bound_fields(method)
        max_chars = self._max_text_chars if api_surface.is_public(method.containing_service) else None

        def validated(request: Any, context: grpc.ServicerContext) -> Any:
            if type(request) is UndecodableRequest:
                raise undecodable(request.raw, request_type)
            if max_chars is not None:
                violation = text_violation(request, max_chars)
                if violation is not None:
                    raise InvalidArgument(violation)
            if bound:
                collision = _collision(context, bound)
                if collision is not None:
                    raise collision
            return behavior(request, context)

        return validated
