"""Channels for service-to-service calls that carry the served call's request id and deadline along."""

from __future__ import annotations

from typing import Any

import grpc

from farmlokal_common import request_context
from farmlokal_common.request_context import REQUEST_ID_HEADER, current_request_id


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(
        self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]], timeout: float | None
    ) -> None:
        self.method = details.method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


def _timeout(own: float | None) -> float | None:
    """The call's own timeout, or what is left of the served call's deadline if that is sooner: a
    callee must not work on after the caller's caller gave up."""
    remaining = request_context.time_remaining()
    if remaining is None:
        return own
    return remaining if own is None else min(own, remaining)


class RequestIdClientInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Adds x-request-id of the call being served so one request can be followed across services, and
    bounds the outgoing call by the served call's remaining deadline."""

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = list(details.metadata or [])
        request_id = current_request_id()
        if request_id and not any(key == REQUEST_ID_HEADER for key, _ in metadata):
            metadata.append((REQUEST_ID_HEADER, request_id))
        return continuation(_ClientCallDetails(details, metadata, _timeout(details.timeout)), request)


def make_channel(address: str) -> grpc.Channel:
    channel = grpc.insecure_channel(
        address, options=[("grpc.keepalive_time_ms", 30_000), ("grpc.enable_retries", 1)]
    )
    return grpc.intercept_channel(channel, RequestIdClientInterceptor())
