"""The public API as the edge routes it: services, methods, admin scopes and timeouts, from the descriptor set."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from farmlokal_common import api_surface
from farmlokal_edge.config import DEFAULT_TIMEOUT_S, READ_TIMEOUT_S


@dataclass(frozen=True)
class PublicMethod:
    name: str
    # Free of side effects: retried once when it cannot have been served, and given READ_TIMEOUT_S.
    read: bool
    timeout_s: int
    # The servicer may set the REST status with x-http-status (applied by the edge's Lua filter).
    http_status_header: bool = False
    # The REST path template as a regex (google.api.http), "" when the method has no REST binding.
    rest_path_regex: str = ""
    # REST calls are answered with pre-rendered JSON (farmlokal_common/rest_json.py).
    rest_json_body: bool = False


@dataclass(frozen=True)
class PublicService:
    """A gRPC service the edge routes (REST via the transcoder, and native gRPC by path)."""

    name: str
    cluster: str
    methods: tuple[PublicMethod, ...]
    # Admin services need a bearer JWT (jwt_authn) carrying this scope (RBAC); None: public.
    admin_scope: str | None = None


def public_api(descriptor_path: Path) -> tuple[PublicService, ...]:
    """Every public service in the descriptor set, in declaration order.

    The cluster of a service is the service part of its package: farmlokal.catalog.v1 -> catalog.
    """
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    services = []
    for file in files.file:
        for service_proto in file.service:
            service = pool.FindServiceByName(f"{file.package}.{service_proto.name}")
            if not api_surface.is_public(service):
                continue
            methods = tuple(_method(method) for method in service.methods)
            cluster = file.package.split(".")[1]
            services.append(
                PublicService(service.full_name, cluster, methods, api_surface.admin_scope(service))
            )
    return tuple(services)


def _method(method: MethodDescriptor) -> PublicMethod:
    read = api_surface.is_read(method)
    return PublicMethod(
        method.name,
        read,
        api_surface.timeout_seconds(method) or (READ_TIMEOUT_S if read else DEFAULT_TIMEOUT_S),
        api_surface.http_status_header(method),
        _path_regex(method),
        api_surface.rest_json_body(method),
    )


def _path_regex(method: MethodDescriptor) -> str:
    """`/v1/products/{id}` -> `/v1/products/[^/]+` (a variable is one path segment here)."""
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    pattern = rule.WhichOneof("pattern")
    template = getattr(rule, pattern) if pattern and pattern != "custom" else ""
    parts = re.split(r"(\{[^}]*\})", template)
    return "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts if part)


def health_checked_service(services: tuple[PublicService, ...], cluster: str) -> str:
    """The gRPC health service name a cluster's endpoints are checked against: its first public
    service, so a cluster pointed at the wrong service goes unhealthy."""
    return next(service.name for service in services if service.cluster == cluster)


def longest_timeout_s(services: tuple[PublicService, ...]) -> int:
    return max(method.timeout_s for service in services for method in service.methods)
