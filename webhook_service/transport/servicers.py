"""Thin webhook servicers: inbound events, admin views of events and subscriptions, event publishing."""

from __future__ import annotations

import grpc
from farmlokal.webhook.v1 import webhook_internal_pb2 as ipb
from farmlokal.webhook.v1 import webhook_internal_pb2_grpc as ipb_grpc
from farmlokal.webhook.v1 import webhook_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc

from webhook_service.domain import CatalogEvent
from webhook_service.events import Events
from webhook_service.inbound import InboundWebhooks
from webhook_service.subscriptions import Subscriptions
from webhook_service.transport import presenters
from webhook_service.transport.paging import decode_cursor, encode_cursor, parse_limit


class WebhookServicer(pb_grpc.WebhookServiceServicer):
    def __init__(self, inbound: InboundWebhooks) -> None:
        self._inbound = inbound

    def ReceiveWebhook(
        self, request: pb.ReceiveWebhookRequest, context: grpc.ServicerContext
    ) -> pb.ReceiveWebhookResponse:
        headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        receipt = self._inbound.receive(request.source, headers, request.body.data)
        return pb.ReceiveWebhookResponse(event_id=receipt.event_id, status=receipt.status)


class WebhookAdminServicer(pb_grpc.WebhookAdminServiceServicer):
    def __init__(self, events: Events, subscriptions: Subscriptions) -> None:
        self._events = events
        self._subscriptions = subscriptions

    def GetEvent(self, request: pb.GetEventRequest, context: grpc.ServicerContext) -> pb.InboundEvent:
        return presenters.event(self._events.get(request.source, request.event_id))

    def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListEventsResponse:
        page, has_more = self._events.page(
            request.status, decode_cursor(request.cursor), parse_limit(request.limit)
        )
        return pb.ListEventsResponse(
            events=[presenters.event(e) for e in page],
            next_cursor=encode_cursor(page[-1].id) if has_more else "",
            has_more=has_more,
        )

    def RetryEvent(self, request: pb.RetryEventRequest, context: grpc.ServicerContext) -> pb.InboundEvent:
        return presenters.event(self._events.retry(request.source, request.event_id))

    def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        created = self._subscriptions.create(request.url, list(request.event_types), request.description)
        return presenters.subscription(created)

    def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: grpc.ServicerContext
    ) -> pb.ListSubscriptionsResponse:
        return pb.ListSubscriptionsResponse(
            subscriptions=[presenters.subscription(s) for s in self._subscriptions.all()]
        )

    def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        return presenters.subscription(self._subscriptions.get(request.id))

    def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteSubscriptionResponse:
        return pb.DeleteSubscriptionResponse(deleted=self._subscriptions.delete(request.id))

    def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        page, has_more = self._subscriptions.deliveries(
            request.id, decode_cursor(request.cursor), parse_limit(request.limit)
        )
        return pb.ListDeliveriesResponse(
            deliveries=[presenters.delivery(d) for d in page],
            next_cursor=encode_cursor(page[-1].id) if has_more else "",
            has_more=has_more,
        )


class EventPublishServicer(ipb_grpc.EventPublishServiceServicer):
    """Internal: the catalog's outbox relay hands changes over (not routed by the public edge)."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subscriptions = subscriptions

    def PublishCatalogEvents(
        self, request: ipb.PublishCatalogEventsRequest, context: grpc.ServicerContext
    ) -> ipb.PublishCatalogEventsResponse:
        events = [
            CatalogEvent(e.outbox_id, e.type, e.payload_json, e.occurred_at.ToDatetime())
            for e in request.events
        ]
        accepted, created = self._subscriptions.publish(events)
        return ipb.PublishCatalogEventsResponse(accepted=accepted, deliveries_created=created)
