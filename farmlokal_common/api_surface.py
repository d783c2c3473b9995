"""What the edge exposes of an API, read from the options declared on its protos (farmlokal/api/v1/edge.proto).

The one place that knows how those options are spelled: the edge renderer and every service's
bootstrap ask these functions, so no list of public, admin or read methods exists anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from farmlokal.api.v1 import edge_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

__all__ = [
    "admin_scope",
    "http_status_header",
    "is_public",
    "is_read",
    "public_names",
    "rest_json_body",
    "services_of",
    "timeout_seconds",
]

_NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.IdempotencyLevel.NO_SIDE_EFFECTS


def services_of(*modules: ModuleType) -> tuple[ServiceDescriptor, ...]:
    """Every gRPC service declared in the given generated `*_pb2` modules."""
    return tuple(service for module in modules for service in module.DESCRIPTOR.services_by_name.values())


def is_public(service: ServiceDescriptor) -> bool:
    """Routed by the public edge; every other service is internal."""
    return bool(service.GetOptions().Extensions[edge_pb2.public])


def public_names(services: Iterable[ServiceDescriptor]) -> tuple[str, ...]:
    return tuple(service.full_name for service in services if is_public(service))


def admin_scope(service: ServiceDescriptor) -> str | None:
    """The scope a bearer token needs at the edge for this service, or None (no token needed)."""
    return str(service.GetOptions().Extensions[edge_pb2.admin_scope]) or None


def is_read(method: MethodDescriptor) -> bool:
    """Declared free of side effects: the edge may retry it when it cannot have been served."""
    return bool(method.GetOptions().idempotency_level == _NO_SIDE_EFFECTS)


def http_status_header(method: MethodDescriptor) -> bool:
    """The servicer may set the REST status of a success with the x-http-status header."""
    return bool(method.GetOptions().Extensions[edge_pb2.http_status_header])


def rest_json_body(method: MethodDescriptor) -> bool:
    """The servicer answers REST calls with its response's JSON pre-rendered (farmlokal_common.rest_json)."""
    return bool(method.GetOptions().Extensions[edge_pb2.rest_json_body])


def timeout_seconds(method: MethodDescriptor) -> int | None:
    """The method's own route timeout, or None for its kind's default."""
    return int(method.GetOptions().Extensions[edge_pb2.timeout_seconds]) or None
