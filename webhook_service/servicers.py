"""Webhook servicers. Inbound events and subscriptions arrive with their own issue; until then UNIMPLEMENTED."""

from __future__ import annotations

from farmlokal.webhook.v1 import webhook_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc
from grpc import ServicerContext

from farmlokal_common.errors import Unimplemented

_NOT_YET = "webhooks are not available yet"


class WebhookServicer(pb_grpc.WebhookServiceServicer):
    def ReceiveWebhook(
        self, request: pb.ReceiveWebhookRequest, context: ServicerContext
    ) -> pb.ReceiveWebhookResponse:
        raise Unimplemented(_NOT_YET)


class WebhookAdminServicer(pb_grpc.WebhookAdminServiceServicer):
    """Every admin RPC answers UNIMPLEMENTED (the base class does the same, without our error body)."""

    def __getattribute__(self, name: str) -> object:
        if name[:1].isupper():

            def unimplemented(request: object, context: ServicerContext) -> object:
                raise Unimplemented(_NOT_YET)

            return unimplemented
        return super().__getattribute__(name)


class EventPublishServicer(pb_grpc.EventPublishServiceServicer):
    def PublishCatalogEvents(
        self, request: pb.PublishCatalogEventsRequest, context: ServicerContext
    ) -> pb.PublishCatalogEventsResponse:
        raise Unimplemented(_NOT_YET)
