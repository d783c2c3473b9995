"""An in-process gRPC server with canned answers, standing in for all three services behind Envoy.

It lets the edge tests pin Envoy's own behaviour (headers, statuses, routing) without depending
on what the real services answer, and it records every call so a test can prove a request
never reached a backend.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from farmlokal.auth.v1 import auth_pb2, auth_pb2_grpc
from farmlokal.catalog.v1 import (
    catalog_internal_pb2,
    catalog_internal_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
)
from farmlokal.webhook.v1 import webhook_pb2, webhook_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from catalog_service.transport.prebuilt import Prebuilt, PrebuiltResponseInterceptor
from farmlokal_common import rest_json

RATE_LIMIT_HEADERS = (
    ("x-ratelimit-limit", "100"),
    ("x-ratelimit-remaining", "99"),
    ("x-ratelimit-reset", "1"),
)


@dataclass
class CallLog:
    methods: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str) -> None:
        with self.lock:
            self.methods.append(method)

    def seen(self, fragment: str) -> bool:
        with self.lock:
            return any(fragment in method for method in self.methods)


class _Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def GetProduct(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("CatalogService/GetProduct")
        if request.id == "404":
            context.abort(grpc.StatusCode.NOT_FOUND, "product 404 does not exist")
        if request.id == "503":
            context.abort(grpc.StatusCode.UNAVAILABLE, "the database query took too long")
        context.send_initial_metadata(RATE_LIMIT_HEADERS)
        return catalog_pb2.Product(id=int(request.id or 1), name="Mango", price="499.00")

    def ListProducts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("CatalogService/ListProducts")
        # The deadline the call arrived with, for the edge's deadline tests; pre-rendered for the REST
        # edge, as the catalog answers (farmlokal_common/rest_json.py).
        answer = catalog_pb2.ListProductsResponse(
            next_cursor=f"{context.time_remaining():.3f}", has_more=False
        )
        if rest_json.wants_json_body(context.invocation_metadata()):
            return Prebuilt(rest_json.http_body(answer))
        return answer

    def ListCategories(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("CatalogService/ListCategories")
        context.set_trailing_metadata((("retry-after", "7"),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")


class _SystemHealth(catalog_pb2_grpc.SystemHealthServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def GetHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("SystemHealthService/GetHealth")
        context.send_initial_metadata((("x-http-status", "503"),))
        return catalog_pb2.GetHealthResponse(status="down", version="stub")

    def GetLiveness(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("SystemHealthService/GetLiveness")
        return catalog_pb2.GetLivenessResponse(status="ok")


class _ProductWrite(catalog_internal_pb2_grpc.ProductWriteServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def UpsertProducts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("ProductWriteService/UpsertProducts")
        return catalog_internal_pb2.UpsertProductsResponse(created=len(request.products))


class _TokenInfo(auth_pb2_grpc.TokenInfoServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def GetTokenInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("TokenInfoService/GetTokenInfo")
        return auth_pb2.GetTokenInfoResponse(token_type="Bearer", source="cache")


class _Webhook(webhook_pb2_grpc.WebhookServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def ReceiveWebhook(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("WebhookService/ReceiveWebhook")
        return webhook_pb2.ReceiveWebhookResponse(event_id=str(len(request.body.data)), status="accepted")


class _WebhookAdmin(webhook_pb2_grpc.WebhookAdminServiceServicer):
    def __init__(self, calls: CallLog) -> None:
        self.calls = calls

    def CreateSubscription(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.record("WebhookAdminService/CreateSubscription")
        return webhook_pb2.Subscription(id="sub_1", url=request.url)


@dataclass
class StubBackend:
    server: grpc.Server
    port: int
    calls: CallLog

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(0).wait()


def start_stub_backend() -> StubBackend:
    calls = CallLog()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        interceptors=[PrebuiltResponseInterceptor()],
        options=[("grpc.max_receive_message_length", 4 << 20)],
    )
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(_Catalog(calls), server)
    catalog_pb2_grpc.add_SystemHealthServiceServicer_to_server(_SystemHealth(calls), server)
    catalog_internal_pb2_grpc.add_ProductWriteServiceServicer_to_server(_ProductWrite(calls), server)
    auth_pb2_grpc.add_TokenInfoServiceServicer_to_server(_TokenInfo(calls), server)
    webhook_pb2_grpc.add_WebhookServiceServicer_to_server(_Webhook(calls), server)
    webhook_pb2_grpc.add_WebhookAdminServiceServicer_to_server(_WebhookAdmin(calls), server)
    health_servicer = health.HealthServicer()
    for name in (
        "",
        "farmlokal.catalog.v1.CatalogService",
        "farmlokal.webhook.v1.WebhookService",
        "farmlokal.auth.v1.TokenInfoService",
    ):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return StubBackend(server, port, calls)
