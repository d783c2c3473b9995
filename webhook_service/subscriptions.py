"""Outbound subscriptions: registration (URL policy, secrets), catalog events fanned out, delivery history."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from farmlokal_common.errors import FieldViolation, InvalidArgument, NotFound
from farmlokal_common.json_body import JsonBodyError, load_json_object
from farmlokal_common.timestamps import utcnow
from webhook_service.domain import CATALOG_EVENT_TYPES, CatalogEvent, Delivery, Subscription
from webhook_service.signature import new_secret
from webhook_service.subscription_store import SubscriptionStore
from webhook_service.url_policy import UrlPolicy

MAX_DESCRIPTION = 500


class Subscriptions:
    def __init__(
        self, store: SubscriptionStore, policy: UrlPolicy, on_published: Callable[[], None] = lambda: None
    ) -> None:
        self._store = store
        self._policy = policy
        self._on_published = on_published  # wakes this process's delivery worker

    def create(self, url: str, event_types: Sequence[str], description: str) -> Subscription:
        """The new subscription, with its signing secret (shown only here)."""
        violations = []
        if not event_types:
            violations.append(
                FieldViolation("event_types", f"give at least one of {', '.join(CATALOG_EVENT_TYPES)}")
            )
        unknown = sorted(set(event_types) - set(CATALOG_EVENT_TYPES))
        if unknown:
            violations.append(
                FieldViolation("event_types", f"unknown {unknown}; allowed: {', '.join(CATALOG_EVENT_TYPES)}")
            )
        if len(description) > MAX_DESCRIPTION:
            violations.append(
                FieldViolation("description", f"description must be at most {MAX_DESCRIPTION} characters")
            )
        if violations:
            raise InvalidArgument(violations)
        self._policy.check(url)
        subscription = Subscription(
            id=uuid.uuid4().hex,
            url=url,
            event_types=tuple(sorted(set(event_types))),
            description=description,
            enabled=True,
            disabled_reason="",
            created_at=utcnow(),
            secret=new_secret(),
        )
        self._store.insert(subscription)
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self._store.get(subscription_id)
        if subscription is None:
            raise NotFound(f"subscription {subscription_id!r} does not exist")
        return subscription

    def all(self) -> list[Subscription]:
        return self._store.all()

    def delete(self, subscription_id: str) -> bool:
        if not self._store.delete(subscription_id):
            raise NotFound(f"subscription {subscription_id!r} does not exist")
        return True

    def publish(self, events: Sequence[CatalogEvent]) -> tuple[int, int]:
        """(accepted, deliveries created); idempotent per outbox id: a replayed hand-over creates no
        second delivery. The whole batch is checked first: one bad event refuses the batch."""
        _check_events(events)
        created = self._store.fan_out(events, utcnow())
        if created:
            self._on_published()
        return len(events), created

    def deliveries(self, subscription_id: str, after_id: int, limit: int) -> tuple[list[Delivery], bool]:
        """A page of a subscription's deliveries and whether more follow."""
        self.get(subscription_id)
        rows = self._store.deliveries(subscription_id, after_id, limit + 1)
        return rows[:limit], len(rows) > limit


def _check_events(events: Sequence[CatalogEvent]) -> None:
    violations = []
    for i, event in enumerate(events):
        if event.type not in CATALOG_EVENT_TYPES:
            violations.append(
                FieldViolation(f"events[{i}].type", f"type must be one of {', '.join(CATALOG_EVENT_TYPES)}")
            )
        if event.outbox_id <= 0:
            violations.append(
                FieldViolation(f"events[{i}].outbox_id", "outbox_id must be a positive integer")
            )
        try:
            load_json_object(event.payload_json)
        except JsonBodyError as error:
            violations.append(
                FieldViolation(f"events[{i}].payload_json", f"payload_json must be a JSON object ({error})")
            )
    if violations:
        raise InvalidArgument(violations)
