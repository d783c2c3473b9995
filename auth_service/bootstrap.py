"""Builds the auth service's dependencies from its settings and wires the servicers."""

from __future__ import annotations

import grpc
from farmlokal.auth.v1 import auth_pb2 as pb
from farmlokal.auth.v1 import auth_pb2_grpc as pb_grpc

from auth_service.servicers import TokenBrokerServicer, TokenInfoServicer
from auth_service.settings import AuthSettings
from farmlokal_common.db import make_engine, ping
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.rate_limit import RateLimiter, parse_limits
from farmlokal_common.redis_client import make_redis
from farmlokal_common.server import ServiceApp

PUBLIC_SERVICES = (pb.DESCRIPTOR.services_by_name["TokenInfoService"].full_name,)
SERVICE_NAMES = (*PUBLIC_SERVICES, pb.DESCRIPTOR.services_by_name["TokenBrokerService"].full_name)


def build_app(settings: AuthSettings) -> ServiceApp:
    engine = make_engine(settings.database_url, settings)
    redis = make_redis(settings)
    limiter = RateLimiter(redis, parse_limits(settings.rate_limits))

    def register(server: grpc.Server) -> None:
        pb_grpc.add_TokenInfoServiceServicer_to_server(TokenInfoServicer(), server)
        pb_grpc.add_TokenBrokerServiceServicer_to_server(TokenBrokerServicer(), server)

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
