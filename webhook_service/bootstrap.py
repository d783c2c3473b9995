"""Builds the webhook service's dependencies from its settings and wires servicers and workers."""

from __future__ import annotations

import grpc
import httpx
from farmlokal.webhook.v1 import webhook_internal_pb2 as ipb
from farmlokal.webhook.v1 import webhook_internal_pb2_grpc as ipb_grpc
from farmlokal.webhook.v1 import webhook_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc

from farmlokal_common import api_surface
from farmlokal_common.db import make_engine
from farmlokal_common.grpc_client import make_channel
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.lifecycle import closer, store_checks
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.server import ServiceApp
from webhook_service.delivery_store import DeliveryStore
from webhook_service.delivery_worker import DeliveryWorker
from webhook_service.event_store import EventStore
from webhook_service.event_worker import EventWorker
from webhook_service.events import Events
from webhook_service.handlers import CatalogEventHandler
from webhook_service.inbound import InboundWebhooks, parse_source_secrets
from webhook_service.pacing import Pacing
from webhook_service.settings import WebhookSettings
from webhook_service.subscription_store import SubscriptionStore
from webhook_service.subscriptions import Subscriptions
from webhook_service.transport.servicers import EventPublishServicer, WebhookAdminServicer, WebhookServicer
from webhook_service.url_policy import UrlPolicy

SERVICES = api_surface.services_of(pb, ipb)
PUBLIC_SERVICES = api_surface.public_names(SERVICES)
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)


def build_app(settings: WebhookSettings) -> ServiceApp:
    engine = make_engine(settings.database_url, settings, isolation_level="READ COMMITTED")
    redis = make_redis(settings)
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits))
    store = EventStore(engine)
    policy = UrlPolicy(settings.allow_subscriber_networks, settings.subscriber_dns_timeout_seconds)
    pacing = Pacing(settings.worker_idle_seconds, settings.worker_max_idle_seconds)
    subscriptions = Subscriptions(SubscriptionStore(engine), policy, on_published=pacing.wake)
    inbound = InboundWebhooks(
        store, redis, parse_source_secrets(settings.source_secrets), on_stored=pacing.wake
    )
    catalog = make_channel(settings.catalog_address)
    event_workers = [
        EventWorker(
            store,
            CatalogEventHandler(catalog),
            settings.delays(settings.event_retry_delays),
            pacing,
            lease_seconds=settings.event_lease_seconds,
        )
        for _ in range(settings.event_worker_threads)
    ]
    http = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=20))
    delivery_worker = DeliveryWorker(
        DeliveryStore(engine),
        http,
        policy,
        settings.delays(settings.delivery_retry_delays),
        pacing,
        timeout_seconds=settings.delivery_timeout_seconds,
    )

    def register(server: grpc.Server) -> None:
        pb_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(inbound), server)
        pb_grpc.add_WebhookAdminServiceServicer_to_server(
            WebhookAdminServicer(Events(store), subscriptions), server
        )
        ipb_grpc.add_EventPublishServiceServicer_to_server(EventPublishServicer(subscriptions), server)

    return ServiceApp(
        service_names=SERVICE_NAMES,
        register=register,
        dependency_checks=store_checks(engine, redis),
        interceptors=[RateLimitInterceptor(limiter, PUBLIC_SERVICES)],
        on_stop=[closer(catalog, http, policy, redis, engine)],
        background=[*(worker.run for worker in event_workers), delivery_worker.run, pacing.watch],
    )
