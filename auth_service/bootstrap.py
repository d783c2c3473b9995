"""Builds the auth service's dependencies from its settings and wires the servicers."""

from __future__ import annotations

from urllib.parse import urlsplit

import grpc
import httpx
from farmlokal.auth.v1 import auth_internal_pb2 as ipb
from farmlokal.auth.v1 import auth_internal_pb2_grpc as ipb_grpc
from farmlokal.auth.v1 import auth_pb2 as pb
from farmlokal.auth.v1 import auth_pb2_grpc as pb_grpc

from auth_service.broker import BrokerSettings, TokenBroker
from auth_service.fetch_log import FetchLog
from auth_service.provider import ClientCredentials, TokenProvider
from auth_service.settings import AuthSettings
from auth_service.transport.servicers import TokenBrokerServicer, TokenInfoServicer
from farmlokal_common import api_surface
from farmlokal_common.circuit_breaker import BreakerSettings, UpstreamBreaker, breaker_redis
from farmlokal_common.db import make_engine
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.lifecycle import closer, store_checks
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.retry import RetryPolicy
from farmlokal_common.server import ServiceApp

SERVICES = api_surface.services_of(pb, ipb)
PUBLIC_SERVICES = api_surface.public_names(SERVICES)
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)


def build_app(settings: AuthSettings) -> ServiceApp:
    engine = make_engine(settings.database_url, settings)
    redis = make_redis(settings)
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits))
    http = httpx.Client(limits=httpx.Limits(max_connections=20))
    credentials = ClientCredentials(
        settings.token_url, settings.client_id, settings.client_secret, settings.client_auth_method
    )
    breaker = UpstreamBreaker(
        f"oauth_provider@{urlsplit(settings.token_url).netloc}",  # one breaker per provider endpoint
        breaker_redis(settings),
        BreakerSettings(settings.provider_breaker_fail_max, settings.provider_breaker_reset_seconds),
    )
    provider = TokenProvider(
        http, credentials, RetryPolicy(), deadline_seconds=settings.provider_deadline_seconds, breaker=breaker
    )
    broker = TokenBroker(
        redis,
        provider,
        BrokerSettings(
            namespace=f"{settings.token_url}|{settings.client_id}",
            refresh_skew_seconds=settings.refresh_skew_seconds,
            lock_ttl_seconds=settings.refresh_lock_ttl_seconds,
            lock_wait_seconds=settings.refresh_lock_wait_seconds,
        ),
        record=FetchLog(engine).record,
    )

    def register(server: grpc.Server) -> None:
        pb_grpc.add_TokenInfoServiceServicer_to_server(
            TokenInfoServicer(broker, settings.audience, settings.scope), server
        )
        ipb_grpc.add_TokenBrokerServiceServicer_to_server(
            TokenBrokerServicer(broker, settings.audience, settings.scope), server
        )

    return ServiceApp(
        service_names=SERVICE_NAMES,
        register=register,
        dependency_checks=store_checks(engine, redis),
        interceptors=[RateLimitInterceptor(limiter, PUBLIC_SERVICES)],
        on_stop=[closer(http, redis, engine)],
    )
