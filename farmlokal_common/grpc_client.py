"""Channels for service-to-service calls that carry the current request id along."""

from __future__ import annotations

from typing import Any

import grpc

from farmlokal_common.request_context import REQUEST_ID_HEADER, current_request_id


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class RequestIdClientInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Adds x-request-id of the call being served so one request can be followed across services."""

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = list(details.metadata or [])
        request_id = current_request_id()
        if request_id and not any(key == REQUEST_ID_HEADER for key, _ in metadata):
            metadata.append((REQUEST_ID_HEADER, request_id))
        return continuation(_ClientCallDetails(details, metadata), request)


def make_channel(address: str) -> grpc.Channel:
    channel = grpc.insecure_channel(
        address, options=[("grpc.keepalive_time_ms", 30_000), ("grpc.enable_retries", 1)]
    )
    return grpc.intercept_channel(channel, RequestIdClientInterceptor())
