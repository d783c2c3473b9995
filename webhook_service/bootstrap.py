"""Builds the webhook service's dependencies from its settings and wires the servicers."""

from __future__ import annotations

import grpc
from farmlokal.webhook.v1 import webhook_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc

from farmlokal_common.db import make_engine, ping
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.server import ServiceApp
from webhook_service.servicers import EventPublishServicer, WebhookAdminServicer, WebhookServicer
from webhook_service.settings import WebhookSettings

PUBLIC_SERVICES = (
    pb.DESCRIPTOR.services_by_name["WebhookService"].full_name,
    pb.DESCRIPTOR.services_by_name["WebhookAdminService"].full_name,
)
SERVICE_NAMES = (*PUBLIC_SERVICES, pb.DESCRIPTOR.services_by_name["EventPublishService"].full_name)


def build_app(settings: WebhookSettings) -> ServiceApp:
    engine = make_engine(settings.database_url, settings)
    redis = make_redis(settings)
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits))

    def register(server: grpc.Server) -> None:
        pb_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(), server)
        pb_grpc.add_WebhookAdminServiceServicer_to_server(WebhookAdminServicer(), server)
        pb_grpc.add_EventPublishServiceServicer_to_server(EventPublishServicer(), server)

    def close() -> None:
        redis.close()
        engine.dispose()

    return ServiceApp(
        service_names=SERVICE_NAMES,
        register=register,
        dependency_checks={"mysql": lambda: ping(engine), "redis": lambda: redis.ping() and None},
        interceptors=[RateLimitInterceptor(limiter, PUBLIC_SERVICES)],
        on_stop=[close],
    )
