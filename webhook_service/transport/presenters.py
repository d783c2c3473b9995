"""Domain records as the API's protobuf messages (naive UTC times as Timestamps)."""

from __future__ import annotations

from farmlokal.webhook.v1 import webhook_pb2 as pb

from farmlokal_common.timestamps import timestamp, timestamp_or_none
from webhook_service.domain import SCHEDULED, Delivery, InboundEvent, Subscription


def event(record: InboundEvent) -> pb.InboundEvent:
    return pb.InboundEvent(
        source=record.source,
        event_id=record.event_id,
        type=record.type,
        status=record.status,
        attempts=record.attempts,
        last_error=record.last_error or "",
        received_at=timestamp(record.received_at),
        processed_at=timestamp_or_none(record.processed_at),
        next_attempt_at=timestamp_or_none(record.next_attempt_at) if record.status in SCHEDULED else None,
    )


def subscription(record: Subscription) -> pb.Subscription:
    return pb.Subscription(
        id=record.id,
        url=record.url,
        event_types=record.event_types,
        description=record.description,
        secret=record.secret,
        enabled=record.enabled,
        disabled_reason=record.disabled_reason,
        created_at=timestamp(record.created_at),
    )


def delivery(record: Delivery) -> pb.Delivery:
    return pb.Delivery(
        id=str(record.id),
        event_id=f"msg_{record.outbox_id}",
        event_type=record.event_type,
        status=record.status,
        attempts=record.attempts,
        next_attempt_at=timestamp_or_none(record.next_attempt_at) if record.status in SCHEDULED else None,
        attempt_log=[
            pb.DeliveryAttempt(
                attempted_at=timestamp(a.attempted_at),
                status_code=a.status_code or 0,
                latency_ms=a.latency_ms,
                error=a.error or "",
            )
            for a in record.attempt_log
        ],
    )
