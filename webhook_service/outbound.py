"""Outbound subscriptions: registration, catalog events fanned out into deliveries, delivery history."""

from __future__ import annotations

import json
import uuid
from typing import Any

from farmlokal.webhook.v1 import webhook_internal_pb2 as ipb
from farmlokal.webhook.v1 import webhook_pb2 as pb
from sqlalchemy import Engine, bindparam, text

from farmlokal_common.errors import FieldViolation, InvalidArgument, NotFound
from farmlokal_common.json_body import JsonBodyError, load_json_object
from farmlokal_common.timestamps import timestamp_or_none as timestamp
from farmlokal_common.timestamps import utcnow
from farmlokal_common.webhook_signature import new_secret
from webhook_service.url_policy import UrlPolicy

EVENT_TYPES = ("product.created", "product.updated", "product.deleted")


def _subscription(row: Any, secret: str = "") -> pb.Subscription:
    m = row._mapping
    return pb.Subscription(
        id=m["id"],
        url=m["url"],
        event_types=json.loads(m["event_types"]),
        description=m["description"],
        secret=secret,
        enabled=bool(m["enabled"]),
        disabled_reason=m["disabled_reason"] or "",
        created_at=timestamp(m["created_at"]),
    )


class Subscriptions:
    def __init__(self, engine: Engine, policy: UrlPolicy) -> None:
        self._engine = engine
        self._policy = policy

    def create(self, url: str, event_types: list[str], description: str) -> pb.Subscription:
        violations = []
        if not event_types:
            violations.append(FieldViolation("event_types", f"give at least one of {', '.join(EVENT_TYPES)}"))
        unknown = sorted(set(event_types) - set(EVENT_TYPES))
        if unknown:
            violations.append(
                FieldViolation("event_types", f"unknown {unknown}; allowed: {', '.join(EVENT_TYPES)}")
            )
        if len(description) > 500:
            violations.append(FieldViolation("description", "description must be at most 500 characters"))
        if violations:
            raise InvalidArgument(violations)
        self._policy.check(url)
        subscription_id, secret = uuid.uuid4().hex, new_secret()
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO subscriptions (id, url, event_types, description, secret, enabled, created_at)"
                    " VALUES (:id, :url, :types, :description, :secret, TRUE, :now)"
                ),
                {
                    "id": subscription_id,
                    "url": url,
                    "types": json.dumps(sorted(set(event_types))),
                    "description": description,
                    "secret": secret,
                    "now": utcnow(),
                },
            )
        return self.get(subscription_id, secret=secret)

    def get(self, subscription_id: str, secret: str = "") -> pb.Subscription:
        with self._engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM subscriptions WHERE id = :id"), {"id": subscription_id}
            ).first()
        if row is None:
            raise NotFound(f"subscription {subscription_id!r} does not exist")
        return _subscription(row, secret)

    def all(self) -> list[pb.Subscription]:
        with self._engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM subscriptions ORDER BY created_at, id")).fetchall()
        return [_subscription(r) for r in rows]

    def delete(self, subscription_id: str) -> bool:
        with self._engine.begin() as conn:
            deleted = conn.execute(
                text("DELETE FROM subscriptions WHERE id = :id"), {"id": subscription_id}
            ).rowcount
        if not deleted:
            raise NotFound(f"subscription {subscription_id!r} does not exist")
        return True

    def publish(self, events: list[ipb.CatalogEvent]) -> tuple[int, int]:
        """Idempotent per outbox id: a replayed hand-over creates no second delivery."""
        _check_events(events)
        created, now = 0, utcnow()
        with self._engine.begin() as conn:
            subscriptions = [
                (r.id, set(json.loads(r.event_types)))
                for r in conn.execute(text("SELECT id, event_types FROM subscriptions WHERE enabled"))
            ]
            for event in events:
                fresh = conn.execute(
                    text(
                        "INSERT IGNORE INTO catalog_events (outbox_id, type, payload, occurred_at, received_at)"
                        " VALUES (:id, :type, :payload, :occurred, :now)"
                    ),
                    {
                        "id": event.outbox_id,
                        "type": event.type,
                        "payload": event.payload_json,
                        "occurred": event.occurred_at.ToDatetime(),
                        "now": now,
                    },
                ).rowcount
                if not fresh:
                    continue
                for subscription_id, types in subscriptions:
                    if event.type in types:
                        created += conn.execute(
                            text(
                                "INSERT IGNORE INTO deliveries (subscription_id, outbox_id, event_type, status,"
                                " next_attempt_at, created_at) VALUES (:s, :o, :t, 'pending', :now, :now)"
                            ),
                            {"s": subscription_id, "o": event.outbox_id, "t": event.type, "now": now},
                        ).rowcount
        return len(events), created

    def deliveries(
        self, subscription_id: str, after_id: int, limit: int
    ) -> tuple[list[pb.Delivery], int, bool]:
        self.get(subscription_id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT * FROM deliveries WHERE subscription_id = :s AND id > :after ORDER BY id LIMIT :n"
                ),
                {"s": subscription_id, "after": after_id, "n": limit + 1},
            ).fetchall()
            page, has_more = rows[:limit], len(rows) > limit
            attempts: dict[int, list[pb.DeliveryAttempt]] = {r.id: [] for r in page}
            if page:
                for a in conn.execute(
                    text("SELECT * FROM delivery_attempts WHERE delivery_id IN :ids ORDER BY id").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(attempts)},
                ):
                    attempts[a.delivery_id].append(
                        pb.DeliveryAttempt(
                            attempted_at=timestamp(a.attempted_at),
                            status_code=a.status_code or 0,
                            latency_ms=float(a.latency_ms),
                            error=a.error or "",
                        )
                    )
        deliveries = [
            pb.Delivery(
                id=str(r.id),
                event_id=f"msg_{r.outbox_id}",
                event_type=r.event_type,
                status=r.status,
                attempts=r.attempts,
                attempt_log=attempts[r.id],
                next_attempt_at=timestamp(r.next_attempt_at) if r.status in ("pending", "failed") else None,
            )
            for r in page
        ]
        return deliveries, (page[-1].id if page else after_id), has_more


def _check_events(events: list[ipb.CatalogEvent]) -> None:
    """The whole batch is checked before anything is written: one bad event refuses the batch."""
    violations = []
    for i, event in enumerate(events):
        if event.type not in EVENT_TYPES:
            violations.append(
                FieldViolation(f"events[{i}].type", f"type must be one of {', '.join(EVENT_TYPES)}")
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
