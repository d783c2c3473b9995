"""The webhook service's records, independent of SQL and protobuf: inbound events, subscriptions, deliveries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EVENT_STATUSES = ("pending", "processing", "processed", "failed", "dead")
# Statuses whose next_attempt_at means something (an attempt is still to come).
SCHEDULED = ("pending", "failed")
CATALOG_EVENT_TYPES = ("product.created", "product.updated", "product.deleted")


@dataclass(frozen=True)
class InboundEvent:
    id: int
    source: str
    event_id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    received_at: dt.datetime
    processed_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    payload: bytes


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str
    created_at: dt.datetime
    secret: str = ""  # set only on the record a creation returns


@dataclass(frozen=True)
class CatalogEvent:
    """A catalog change handed over by the outbox relay; outbox_id is the idempotency key."""

    outbox_id: int
    type: str
    payload_json: str
    occurred_at: dt.datetime


@dataclass(frozen=True)
class DeliveryAttempt:
    attempted_at: dt.datetime
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True)
class Delivery:
    id: int
    outbox_id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    attempt_log: tuple[DeliveryAttempt, ...]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker holds the lease of, with what it needs to send it."""

    id: int
    attempts: int
    outbox_id: int
    subscription_id: str
    url: str
    secret: str
    event_type: str
    payload: str
    occurred_at: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """What one attempt to deliver gave."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
