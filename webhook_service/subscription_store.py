"""SQL of outbound subscriptions: the subscriptions, the catalog events handed over, their deliveries."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, text

from webhook_service.domain import CatalogEvent, Delivery, DeliveryAttempt, Subscription


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        event_types=tuple(json.loads(row.event_types)),
        description=row.description,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason or "",
        created_at=row.created_at,
    )


class SubscriptionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert(self, subscription: Subscription) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO subscriptions (id, url, event_types, description, secret, enabled, created_at)"
                    " VALUES (:id, :url, :types, :description, :secret, TRUE, :now)"
                ),
                {
                    "id": subscription.id,
                    "url": subscription.url,
                    "types": json.dumps(sorted(set(subscription.event_types))),
                    "description": subscription.description,
                    "secret": subscription.secret,
                    "now": subscription.created_at,
                },
            )

    def get(self, subscription_id: str) -> Subscription | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM subscriptions WHERE id = :id"), {"id": subscription_id}
            ).first()
        return _subscription(row) if row is not None else None

    def all(self) -> list[Subscription]:
        with self._engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM subscriptions ORDER BY created_at, id")).fetchall()
        return [_subscription(r) for r in rows]

    def delete(self, subscription_id: str) -> bool:
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    text("DELETE FROM subscriptions WHERE id = :id"), {"id": subscription_id}
                ).rowcount
            )

    def fan_out(self, events: Sequence[CatalogEvent], now: dt.datetime) -> int:
        """Stores each event once (per outbox id) and a delivery per enabled subscription that wants
        its type, in one transaction; returns the deliveries created. A replayed event creates none."""
        created = 0
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
                        "occurred": event.occurred_at,
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
        return created

    def deliveries(self, subscription_id: str, after_id: int, limit: int) -> list[Delivery]:
        """Up to `limit` deliveries of a subscription after `after_id`, each with its attempts."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT * FROM deliveries WHERE subscription_id = :s AND id > :after ORDER BY id LIMIT :n"
                ),
                {"s": subscription_id, "after": after_id, "n": limit},
            ).fetchall()
            attempts: dict[int, list[DeliveryAttempt]] = {r.id: [] for r in rows}
            if rows:
                for a in conn.execute(
                    text("SELECT * FROM delivery_attempts WHERE delivery_id IN :ids ORDER BY id").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(attempts)},
                ):
                    attempts[a.delivery_id].append(
                        DeliveryAttempt(a.attempted_at, a.status_code, float(a.latency_ms), a.error)
                    )
        return [
            Delivery(
                r.id,
                r.outbox_id,
                r.event_type,
                r.status,
                r.attempts,
                r.next_attempt_at,
                tuple(attempts[r.id]),
            )
            for r in rows
        ]
