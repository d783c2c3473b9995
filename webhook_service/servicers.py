"""Thin webhook servicers: inbound events, admin views of events and subscriptions, event publishing."""

from __future__ import annotations

import grpc
from farmlokal.webhook.v1 import webhook_internal_pb2 as ipb
from farmlokal.webhook.v1 import webhook_internal_pb2_grpc as ipb_grpc
from farmlokal.webhook.v1 import webhook_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2_grpc as pb_grpc

from farmlokal_common.errors import FieldViolation, InvalidArgument, NotFound
from farmlokal_common.timestamps import timestamp_or_none as timestamp
from webhook_service.event_store import EventStore, InboundEvent
from webhook_service.inbound import InboundWebhooks
from webhook_service.outbound import Subscriptions
from webhook_service.paging import decode_cursor, encode_cursor, parse_limit

STATUSES = ("pending", "processing", "processed", "failed", "dead")


def event_message(event: InboundEvent) -> pb.InboundEvent:
    return pb.InboundEvent(
        source=event.source,
        event_id=event.event_id,
        type=event.type,
        status=event.status,
        attempts=event.attempts,
        last_error=event.last_error or "",
        received_at=timestamp(event.received_at),
        processed_at=timestamp(event.processed_at),
        next_attempt_at=timestamp(event.next_attempt_at) if event.status in ("pending", "failed") else None,
    )


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
    def __init__(self, events: EventStore, subscriptions: Subscriptions) -> None:
        self._events = events
        self._subscriptions = subscriptions

    def GetEvent(self, request: pb.GetEventRequest, context: grpc.ServicerContext) -> pb.InboundEvent:
        event = self._events.get(request.source, request.event_id)
        if event is None:
            raise NotFound(f"no event {request.event_id!r} from source {request.source!r}")
        return event_message(event)

    def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListEventsResponse:
        status = request.status.lower()
        if status and status not in STATUSES:
            raise InvalidArgument(FieldViolation("status", f"status must be one of {', '.join(STATUSES)}"))
        limit = parse_limit(request.limit)
        rows = self._events.page(status or None, decode_cursor(request.cursor), limit + 1)
        page, has_more = rows[:limit], len(rows) > limit
        return pb.ListEventsResponse(
            events=[event_message(e) for e in page],
            next_cursor=encode_cursor(page[-1].id) if has_more else "",
            has_more=has_more,
        )

    def RetryEvent(self, request: pb.RetryEventRequest, context: grpc.ServicerContext) -> pb.InboundEvent:
        if not self._events.retry(request.source, request.event_id):
            event = self._events.get(request.source, request.event_id)
            if event is None:
                raise NotFound(f"no event {request.event_id!r} from source {request.source!r}")
            raise InvalidArgument(
                FieldViolation(
                    "event_id", f"only failed or dead events can be retried; this one is {event.status}"
                )
            )
        return event_message(self._events.get(request.source, request.event_id))  # type: ignore[arg-type]

    def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        created = self._subscriptions.create(request.url, list(request.event_types), request.description)
        return created

    def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: grpc.ServicerContext
    ) -> pb.ListSubscriptionsResponse:
        return pb.ListSubscriptionsResponse(subscriptions=self._subscriptions.all())

    def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        return self._subscriptions.get(request.id)

    def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteSubscriptionResponse:
        return pb.DeleteSubscriptionResponse(deleted=self._subscriptions.delete(request.id))

    def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        limit = parse_limit(request.limit)
        deliveries, last_id, has_more = self._subscriptions.deliveries(
            request.id, decode_cursor(request.cursor), limit
        )
        return pb.ListDeliveriesResponse(
            deliveries=deliveries, next_cursor=encode_cursor(last_id) if has_more else "", has_more=has_more
        )


class EventPublishServicer(ipb_grpc.EventPublishServiceServicer):
    """Internal: the catalog's outbox relay hands changes over (not routed by the public edge)."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subscriptions = subscriptions

    def PublishCatalogEvents(
        self, request: ipb.PublishCatalogEventsRequest, context: grpc.ServicerContext
    ) -> ipb.PublishCatalogEventsResponse:
        accepted, created = self._subscriptions.publish(list(request.events))
        return ipb.PublishCatalogEventsResponse(accepted=accepted, deliveries_created=created)
