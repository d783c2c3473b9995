"""The public API as the edge routes it: services, methods, admin scopes and timeouts, from the descriptor set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool

from farmlokal_common import api_surface
from farmlokal_edge.config import DEFAULT_TIMEOUT_S, READ_TIMEOUT_S


@dataclass(frozen=True)
class PublicMethod:
    name: str
    # Free of side effects: retried once when it cannot have been served, and given READ_TIMEOUT_S.
    read: bool
    timeout_s: int


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
            methods = tuple(
                PublicMethod(
                    method.name,
                    api_surface.is_read(method),
                    api_surface.timeout_seconds(method)
                    or (READ_TIMEOUT_S if api_surface.is_read(method) else DEFAULT_TIMEOUT_S),
                )
                for method in service.methods
            )
            cluster = file.package.split(".")[1]
            services.append(
                PublicService(service.full_name, cluster, methods, api_surface.admin_scope(service))
            )
    return tuple(services)


def health_checked_service(services: tuple[PublicService, ...], cluster: str) -> str:
    """The gRPC health service name a cluster's endpoints are checked against: its first public
    service, so a cluster pointed at the wrong service goes unhealthy."""
    return next(service.name for service in services if service.cluster == cluster)


def longest_timeout_s(services: tuple[PublicService, ...]) -> int:
    return max(method.timeout_s for service in services for method in service.methods)
