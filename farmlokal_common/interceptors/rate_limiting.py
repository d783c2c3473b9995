"""Applies the shared rate limiter to every public RPC; headers on every response, 429 with retry-after."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import grpc

from farmlokal_common import response_headers
from farmlokal_common.errors import RateLimited
from farmlokal_common.interceptors import UnaryBehavior, wrap_unary
from farmlokal_common.metrics import RATE_LIMIT_REJECTIONS
from farmlokal_common.rate_limit import RateLimiter

SUBJECT_HEADER = "x-auth-subject"


def client_key(metadata: tuple[tuple[str, str | bytes], ...] | None, peer: str) -> str:
    """The token subject on admin routes, else the client address Envoy forwards, else the peer."""
    headers = {key: value for key, value in metadata or () if isinstance(value, str)}
    if headers.get(SUBJECT_HEADER):
        return "sub:" + headers[SUBJECT_HEADER]
    forwarded = headers.get("x-envoy-external-address") or headers.get("x-forwarded-for", "")
    if forwarded:
        # Envoy (use_remote_address) appends the address it saw last: that one is trustworthy.
        return "ip:" + forwarded.split(",")[-1].strip()
    return "peer:" + peer.rsplit(":", 1)[0]


class RateLimitInterceptor(grpc.ServerInterceptor):
    """Routes are the RPC names (e.g. ListProducts); only the services named in `public` are limited."""

    def __init__(self, limiter: RateLimiter, public_services: Collection[str]) -> None:
        self._limiter = limiter
        self._public = tuple(f"/{name}/" for name in public_services)

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if not method.startswith(self._public):
            return handler
        route = method.rsplit("/", 1)[-1]
        metadata = handler_call_details.invocation_metadata

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            def limited(request: Any, context: grpc.ServicerContext) -> Any:
                decision = self._limiter.check(route, client_key(metadata, context.peer()))
                if decision is not None:
                    for name, value in decision.headers().items():
                        response_headers.add(name, value)
                    if not decision.allowed:
                        RATE_LIMIT_REJECTIONS.labels(route).inc()
                        raise RateLimited(
                            f"rate limit of {decision.limit} requests exceeded for {route}; "
                            f"retry after {decision.retry_after_seconds} s",
                            decision.retry_after_seconds,
                        )
                return behavior(request, context)

            return limited

        return wrap_unary(handler, wrap)
