"""SQL of the delivery worker: claims with leases, the subscription check, each attempt and outcome."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, bindparam, text

from farmlokal_common.db import retry_transaction
from farmlokal_common.timestamps import utcnow
from webhook_service.domain import ClaimedDelivery, Outcome


class DeliveryStore:
    """Every write runs again after a deadlock or lock wait timeout (retry_transaction): each is one
    transaction, and outcomes are conditional on the lease the worker holds."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
        """Due deliveries for this worker (expired leases first return to pending); SKIP LOCKED lets
        several replicas claim side by side."""
        return retry_transaction(lambda: self._claim_once(owner, limit, lease_seconds))

    def _claim_once(self, owner: str, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
        now = utcnow()
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE status = 'delivering' AND lease_expires_at < :now"
                ),
                {"now": now},
            )
            ids = [
                r.id
                for r in conn.execute(
                    text(
                        "SELECT id FROM deliveries WHERE status IN ('pending', 'failed') AND next_attempt_at <= :now"
                        " ORDER BY next_attempt_at, id LIMIT :n FOR UPDATE SKIP LOCKED"
                    ),
                    {"now": now, "n": limit},
                )
            ]
            if not ids:
                return []
            conn.execute(
                text(
                    "UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, lease_owner = :o,"
                    " lease_expires_at = :until WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"o": owner, "until": now + dt.timedelta(seconds=lease_seconds), "ids": ids},
            )
            rows = conn.execute(
                text(
                    "SELECT d.id, d.attempts, d.outbox_id, d.subscription_id, s.url, s.secret,"
                    " e.type, e.payload, e.occurred_at FROM deliveries d"
                    " JOIN subscriptions s ON s.id = d.subscription_id"
                    " JOIN catalog_events e ON e.outbox_id = d.outbox_id WHERE d.id IN :ids ORDER BY d.id"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": ids},
            ).fetchall()
        return [ClaimedDelivery(*row) for row in rows]

    def subscription_enabled(self, subscription_id: str) -> bool:
        with self._engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT enabled FROM subscriptions WHERE id = :s"), {"s": subscription_id}
                ).scalar()
            )

    def record(
        self,
        delivery: ClaimedDelivery,
        owner: str,
        status: str,
        outcome: Outcome,
        retry_at: dt.datetime | None = None,
        disable: str | None = None,
    ) -> None:
        """The attempt, the delivery's new status (while this worker holds its lease) and, after a 410,
        the subscription disabled with the reason."""
        retry_transaction(lambda: self._record_once(delivery, owner, status, outcome, retry_at, disable))

    def _record_once(
        self,
        delivery: ClaimedDelivery,
        owner: str,
        status: str,
        outcome: Outcome,
        retry_at: dt.datetime | None,
        disable: str | None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, error)"
                    " VALUES (:d, :now, :code, :ms, :error)"
                ),
                {
                    "d": delivery.id,
                    "now": utcnow(),
                    "code": outcome.status_code,
                    "ms": outcome.latency_ms,
                    "error": outcome.error,
                },
            )
            conn.execute(
                text(
                    "UPDATE deliveries SET status = :status, lease_owner = NULL, lease_expires_at = NULL,"
                    " next_attempt_at = COALESCE(:retry_at, next_attempt_at) WHERE id = :d AND lease_owner = :o"
                ),
                {"status": status, "retry_at": retry_at, "d": delivery.id, "o": owner},
            )
            if disable:
                conn.execute(
                    text("UPDATE subscriptions SET enabled = FALSE, disabled_reason = :r WHERE id = :s"),
                    {"r": disable, "s": delivery.subscription_id},
                )

    def release(self, owner: str) -> int:
        """Gives this worker's unfinished claims back (graceful shutdown)."""
        with self._engine.begin() as conn:
            return conn.execute(
                text(
                    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE status = 'delivering' AND lease_owner = :o"
                ),
                {"o": owner},
            ).rowcount
