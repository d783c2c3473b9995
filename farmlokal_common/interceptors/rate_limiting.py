"""Applies the shared rate limiter to every public RPC; headers on every response, 429 with retry-after.

Routes whose service answers the check itself (`admissions`, farmlokal_common.admission: the
catalog's cached routes, in the response cache's own round trip) get an Admission opened here for
the call; the servicer takes it and passes it on. A check the call never reached (bad input) is
made here after the call, so every request is counted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import grpc

from farmlokal_common import rate_limit, response_headers
from farmlokal_common.admission import Admission, Admissions
from farmlokal_common.interceptors import UnaryBehavior, wrap_unary
from farmlokal_common.rate_limit import Decision, RateLimiter

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


def _publish(decision: Decision | None) -> None:
    if decision is not None:
        for name, value in decision.headers().items():
            response_headers.add(name, value)


class RateLimitInterceptor(grpc.ServerInterceptor):
    """Routes are the RPC names (e.g. ListProducts); only the services named in `public` are limited."""

    def __init__(
        self, limiter: RateLimiter, public_services: Collection[str], admissions: Admissions | None = None
    ) -> None:
        self._limiter = limiter
        self._public = tuple(f"/{name}/" for name in public_services)
        self._admissions = admissions if admissions is not None else Admissions(())

    def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if not method.startswith(self._public):
            return handler
        route = method.rsplit("/", 1)[-1]

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            def limited(request: Any, context: grpc.ServicerContext) -> Any:
                limit = self._limiter.limit_for(route)
                if limit is None:
                    return behavior(request, context)
                client = client_key(context.invocation_metadata(), context.peer())
                if route not in self._admissions.routes:
                    decision = self._limiter.check(route, client)
                    _publish(decision)
                    rate_limit.enforce(decision, route)
                    return behavior(request, context)
                check = Admission(self._limiter, route, client, limit)
                self._admissions.open(context, check)
                try:
                    response = behavior(request, context)
                finally:
                    self._admissions.close(context)
                    if not check.done:
                        check.check_now()
                    _publish(check.decision)
                rate_limit.enforce(check.decision, route)
                return response

            return limited

        return wrap_unary(handler, wrap)
