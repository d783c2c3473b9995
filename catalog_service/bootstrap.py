"""Builds every dependency of the catalog service from its settings and wires the servicers."""

from __future__ import annotations

import grpc
import httpx
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as ipb_grpc
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc

from catalog_service.catalog import Catalog
from catalog_service.health_report import HealthReporter, Probe
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.repository import ProductReader
from catalog_service.outbox_relay import OutboxRelay
from catalog_service.servicers import (
    CatalogServicer,
    ProductWriteServicer,
    SupplierServicer,
    SystemHealthServicer,
)
from catalog_service.settings import CatalogSettings
from catalog_service.writes import ProductWriter
from farmlokal_common.db import make_engine, ping
from farmlokal_common.grpc_client import make_channel
from farmlokal_common.health_probe import grpc_serving, http_ok
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.redis_client import ping as redis_ping
from farmlokal_common.response_cache import CacheSettings, ResponseCache
from farmlokal_common.server import ServiceApp

PUBLIC_SERVICES = (
    pb.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    pb.DESCRIPTOR.services_by_name["SupplierService"].full_name,
)
SERVICE_NAMES = (
    *PUBLIC_SERVICES,
    pb.DESCRIPTOR.services_by_name["SystemHealthService"].full_name,
    ipb.DESCRIPTOR.services_by_name["ProductWriteService"].full_name,
)


def build_app(settings: CatalogSettings) -> ServiceApp:
    engine = make_engine(settings.database_url, settings)
    read_engine = (
        engine if settings.read_url == settings.database_url else make_engine(settings.read_url, settings)
    )
    redis = make_redis(settings)
    cache = ResponseCache(
        redis,
        CacheSettings(
            namespace="catalog",
            ttl_seconds=settings.cache_ttl_seconds,
            wait_seconds=settings.single_flight_wait_seconds,
            degraded_concurrency=settings.uncached_concurrency,
            enabled=settings.cache_enabled,
        ),
    )
    cursors = CursorCodec(settings.cursor_secret.encode())
    reader = ProductReader(read_engine, cursors)
    writer = ProductWriter(engine, cache, hooks=[SearchIndexer()])
    catalog = Catalog(reader, cache)
    http = httpx.Client(timeout=1.0)
    peers = {"auth": make_channel(settings.auth_address), "webhook": make_channel(settings.webhook_address)}
    reporter = HealthReporter(
        [
            Probe("catalog.mysql", lambda: ping(engine), essential=True),
            Probe("redis", lambda: redis_ping(redis), essential=False),
            Probe("auth_service", grpc_serving(peers["auth"]), essential=False),
            Probe("webhook_service", grpc_serving(peers["webhook"]), essential=False),
            Probe("oauth_provider", http_ok(http, settings.oauth_health_url), essential=False),
            Probe("supplier_api", http_ok(http, settings.supplier_health_url), essential=False),
        ],
        version=settings.version,
    )
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits))

    def register(server: grpc.Server) -> None:
        pb_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(catalog, cursors), server)
        pb_grpc.add_SupplierServiceServicer_to_server(SupplierServicer(), server)
        pb_grpc.add_SystemHealthServiceServicer_to_server(SystemHealthServicer(reporter), server)
        ipb_grpc.add_ProductWriteServiceServicer_to_server(ProductWriteServicer(writer), server)

    def close() -> None:
        for channel in peers.values():
            channel.close()
        http.close()
        redis.close()
        engine.dispose()
        read_engine.dispose()

    return ServiceApp(
        service_names=SERVICE_NAMES,
        register=register,
        dependency_checks={"mysql": lambda: ping(engine)},
        interceptors=[RateLimitInterceptor(limiter, PUBLIC_SERVICES)],
        on_stop=[close],
        background=[OutboxRelay(engine, peers["webhook"]).run] if settings.outbox_relay_enabled else [],
    )
