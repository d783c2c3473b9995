"""Builds every dependency of the catalog service from its settings and wires the servicers."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx
import redis as redis_lib
from farmlokal.catalog.v1 import catalog_internal_pb2 as ipb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as ipb_grpc
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from sqlalchemy import Engine

from catalog_service.catalog import Catalog
from catalog_service.health_probe import grpc_serving, http_ok
from catalog_service.health_report import HealthReporter, Probe
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.reader import ProductReader
from catalog_service.outbox_relay import OutboxRelay
from catalog_service.read_routing import ReadRouter, ReplicaMonitor, ReplicaSettings
from catalog_service.response_cache import CacheSettings, ResponseCache
from catalog_service.settings import CatalogSettings
from catalog_service.supplier.client import BrokerTokens, SupplierClient
from catalog_service.supplier.periodic import PeriodicSync
from catalog_service.supplier.status import SyncStore
from catalog_service.supplier.sync import SupplierSync, SyncSettings
from catalog_service.transport.prebuilt import PrebuiltResponseInterceptor
from catalog_service.transport.presenters import CachedResponses
from catalog_service.transport.servicers import (
    CatalogServicer,
    ProductWriteServicer,
    SupplierServicer,
    SystemHealthServicer,
)
from catalog_service.writes import ProductWriter
from farmlokal_common import api_surface, gtid
from farmlokal_common.admission import Admissions
from farmlokal_common.bulkhead import Bulkhead
from farmlokal_common.circuit_breaker import BreakerSettings, UpstreamBreaker, breaker_redis
from farmlokal_common.db import make_engine, ping
from farmlokal_common.grpc_client import make_channel
from farmlokal_common.http_client import ResilientClient, Timeouts
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.lifecycle import closer, store_checks
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.redis_client import ping as redis_ping
from farmlokal_common.retry import RetryPolicy
from farmlokal_common.server import ServiceApp

SERVICES = api_surface.services_of(pb, ipb)
PUBLIC_SERVICES = api_surface.public_names(SERVICES)
# Their rate-limit check shares the response cache's round trip (its lookup, or the generation's
# floor a read that is not cached reflects).
ADMITTED_ROUTES = ("ListProducts", "ListCategories", "GetProduct")
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)


def build_app(settings: CatalogSettings) -> ServiceApp:
    # One bulkhead for both engines: it bounds the serving threads in the database, whichever engine.
    bulkhead = Bulkhead(settings.bulkhead_slots, settings.db_bulkhead_wait_seconds)
    engine = make_engine(settings.database_url, settings, isolation_level="READ COMMITTED", bulkhead=bulkhead)
    # Reads: pools of their own (autocommit, one round trip per query), on the replica when
    # CATALOG_DATABASE_READ_URL is set and it keeps up, else on the primary.
    reads, read_engines, monitor = _read_router(settings, bulkhead)
    redis = make_redis(settings)
    cache = ResponseCache(
        redis,
        CacheSettings(
            namespace="catalog",
            ttl_seconds=settings.cache_ttl_seconds,
            wait_seconds=settings.single_flight_wait_seconds,
            enabled=settings.cache_enabled,
        ),
        primary_floor=lambda: gtid.primary_position(engine),
    )
    cursors = CursorCodec(settings.cursor_secret.encode())
    reader = ProductReader(reads)
    writer = ProductWriter(engine, cache, hooks=[SearchIndexer()])
    catalog = Catalog(reader, cache, CachedResponses(cursors))
    admissions = Admissions(ADMITTED_ROUTES)
    http = httpx.Client(timeout=1.0)
    peers = {"auth": make_channel(settings.auth_address), "webhook": make_channel(settings.webhook_address)}
    reporter = HealthReporter(
        [
            Probe("catalog.mysql", lambda: ping(engine), essential=True),
            *([Probe("catalog.mysql_replica", monitor.check_health, essential=False)] if monitor else []),
            Probe("redis", lambda: redis_ping(redis), essential=False),
            Probe("auth_service", grpc_serving(peers["auth"]), essential=False),
            Probe("webhook_service", grpc_serving(peers["webhook"]), essential=False),
            # The provider is healthy for us when the broker can hand out the supplier's token: a
            # provider that answers but refuses our credentials is degraded, with its reason.
            Probe("oauth_provider", _token_check(peers["auth"], settings), essential=False),
            Probe("supplier_api", http_ok(http, settings.supplier_health_url), essential=False),
        ],
        version=settings.version,
        max_age_seconds=settings.health_report_max_age_seconds,
    )
    # In the cache's hash tag: a cached route's check runs inside the cache lookup's script.
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits), prefix="{catalog}:rl")
    supplier_redis = breaker_redis(settings)
    supplier_http = httpx.Client(limits=httpx.Limits(max_connections=10))
    supplier_store = SyncStore(engine)
    supplier_sync = _supplier_sync(
        settings, supplier_http, supplier_redis, peers["auth"], writer, supplier_store
    )
    background = [OutboxRelay(engine, peers["webhook"]).run] if settings.outbox_relay_enabled else []
    if monitor is not None:
        background.append(monitor.run)
    if settings.supplier_sync_interval_seconds > 0:
        background.append(
            PeriodicSync(supplier_sync, supplier_store, settings.supplier_sync_interval_seconds).run
        )

    def register(server: grpc.Server) -> None:
        pb_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(catalog, cursors, admissions), server)
        pb_grpc.add_SupplierServiceServicer_to_server(SupplierServicer(supplier_sync), server)
        pb_grpc.add_SystemHealthServiceServicer_to_server(SystemHealthServicer(reporter), server)
        ipb_grpc.add_ProductWriteServiceServicer_to_server(ProductWriteServicer(writer), server)

    return ServiceApp(
        service_names=SERVICE_NAMES,
        register=register,
        # Redis down degrades the catalog (listing is served from MySQL), it does not stop it.
        dependency_checks=store_checks(engine),
        interceptors=[
            PrebuiltResponseInterceptor(),
            RateLimitInterceptor(limiter, PUBLIC_SERVICES, admissions),
        ],
        on_stop=[closer(*peers.values(), http, supplier_http, supplier_redis, redis, engine, *read_engines)],
        background=background,
    )


def _read_router(
    settings: CatalogSettings, bulkhead: Bulkhead
) -> tuple[ReadRouter, list[Engine], ReplicaMonitor | None]:
    """The primary's read pool alone, or with the replica's and the monitor that decides between them."""
    alone = not settings.database_read_url
    primary = make_engine(
        settings.database_url,
        settings,
        read_only=True,
        bulkhead=bulkhead,
        pool_name="catalog_read" if alone else "catalog_read_primary",
    )
    if alone:
        return ReadRouter(primary, pool="catalog_read"), [primary], None
    replica = make_engine(
        settings.database_read_url, settings, read_only=True, bulkhead=bulkhead, pool_name="catalog_read"
    )
    replica_settings = ReplicaSettings(
        settings.replica_max_lag_seconds,
        settings.replica_wait_seconds,
        settings.replica_check_interval_seconds,
    )
    monitor = ReplicaMonitor(primary, replica, replica_settings, pool="catalog_read")
    monitor.check_once()  # so the first reads know where to go
    router = ReadRouter(primary, replica, monitor, settings.replica_wait_seconds)
    return router, [primary, replica], monitor


def _token_check(auth_channel: grpc.Channel, settings: CatalogSettings) -> Callable[[], None]:
    tokens = BrokerTokens(auth_channel, settings.supplier_audience, settings.supplier_scope, timeout=2.0)

    def check() -> None:
        tokens.get()  # Unavailable names the broker's reason (e.g. the provider's invalid_client)

    return check


def _supplier_sync(
    settings: CatalogSettings,
    http: httpx.Client,
    breaker_client: redis_lib.Redis,
    auth_channel: grpc.Channel,
    writer: ProductWriter,
    store: SyncStore,
) -> SupplierSync:
    """The supplier client behind its breaker (state shared by every replica through Redis)."""
    breaker = UpstreamBreaker(
        "supplier_api",
        breaker_client,
        BreakerSettings(settings.supplier_breaker_fail_max, settings.supplier_breaker_reset_seconds),
    )
    resilient = ResilientClient(
        "supplier_api",
        http,
        policy=RetryPolicy(
            max_attempts=settings.supplier_max_attempts,
            base_delay_seconds=settings.supplier_backoff_base_seconds,
            max_delay_seconds=settings.supplier_backoff_max_seconds,
            max_retry_after_seconds=settings.supplier_retry_after_max_seconds,
        ),
        timeouts=Timeouts(
            connect=settings.supplier_connect_timeout_seconds,
            read=settings.supplier_read_timeout_seconds,
            write=settings.supplier_read_timeout_seconds,
            pool=settings.supplier_connect_timeout_seconds,
        ),
        breaker=breaker,
        deadline_seconds=settings.supplier_request_deadline_seconds,
    )
    tokens = BrokerTokens(auth_channel, settings.supplier_audience, settings.supplier_scope)
    client = SupplierClient(resilient, tokens, settings.supplier_base_url)
    sync_settings = SyncSettings(
        page_size=settings.supplier_sync_page_size,
        run_deadline_seconds=settings.supplier_sync_deadline_seconds,
    )
    return SupplierSync(client, writer, store, breaker_client, sync_settings)
