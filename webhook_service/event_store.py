"""SQL for inbound events: durable insert, status queries, claims with leases, outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import IntegrityError

from farmlokal_common.db import error_code, retry_transaction
from farmlokal_common.timestamps import utcnow
from webhook_service.domain import InboundEvent
from webhook_service.metrics import WEBHOOK_EVENTS

_COLUMNS = "id, source, event_id, type, status, attempts, last_error, received_at, processed_at, next_attempt_at, payload"


def _event(row: Any) -> InboundEvent:
    m = row._mapping
    return InboundEvent(**{k: m[k] for k in InboundEvent.__dataclass_fields__})


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert(self, source: str, event_id: str, event_type: str, payload: bytes) -> bool:
        """True when stored now; False when (source, event_id) was already there (a duplicate)."""
        now = utcnow()

        def insert() -> None:
            with self._engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO inbound_events (source, event_id, type, payload, status, received_at,"
                        " next_attempt_at) VALUES (:source, :event_id, :type, :payload, 'pending', :now, :now)"
                    ),
                    {
                        "source": source,
                        "event_id": event_id,
                        "type": event_type[:128],
                        "payload": payload,
                        "now": now,
                    },
                )

        try:
            retry_transaction(insert)  # a deadlock rolled the insert back: nothing was stored yet
        except IntegrityError as error:
            if error_code(error) == 1062:
                return False
            raise
        return True

    def get(self, source: str, event_id: str) -> InboundEvent | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM inbound_events WHERE source = :s AND event_id = :e"),
                {"s": source, "e": event_id},
            ).first()
        return _event(row) if row else None

    def page(self, status: str | None, after_id: int, limit: int) -> list[InboundEvent]:
        where = "id > :after" + (" AND status = :status" if status else "")
        index = "FORCE INDEX (ix_inbound_status_id)" if status else ""
        with self._engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {_COLUMNS} FROM inbound_events {index} WHERE {where} ORDER BY id LIMIT :limit"),
                {"after": after_id, "status": status, "limit": limit},
            ).fetchall()
        return [_event(r) for r in rows]

    def oldest_backlog_received_at(self) -> dt.datetime | None:
        """When the oldest event still to process (pending, failed or processing) arrived; None: none.
        Each MIN(id) is read off one end of ix_inbound_status_id, whatever the backlog's size."""
        with self._engine.connect() as conn:
            value = conn.execute(
                text(
                    "SELECT MIN(received_at) FROM inbound_events WHERE id IN ("
                    "SELECT MIN(id) FROM inbound_events WHERE status = 'pending' UNION ALL "
                    "SELECT MIN(id) FROM inbound_events WHERE status = 'failed' UNION ALL "
                    "SELECT MIN(id) FROM inbound_events WHERE status = 'processing')"
                )
            ).scalar()
        return value if isinstance(value, dt.datetime) else None

    def _retry_once(self, source: str, event_id: str) -> bool:
        """failed or dead → pending, due now, with a fresh retry budget."""
        with self._engine.begin() as conn:
            result = conn.execute(
                text(
                    "UPDATE inbound_events SET status = 'pending', attempts = 0, next_attempt_at = :now,"
                    " lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE source = :s AND event_id = :e AND status IN ('failed', 'dead')"
                ),
                {"s": source, "e": event_id, "now": utcnow()},
            )
        return result.rowcount == 1

    def _claim_once(self, owner: str, limit: int, lease_seconds: float) -> list[InboundEvent]:
        """Takes due events for this worker; SKIP LOCKED lets several replicas claim side by side."""
        now = utcnow()
        with self._engine.begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    text(
                        "SELECT id FROM inbound_events WHERE status IN ('pending', 'failed')"
                        " AND next_attempt_at <= :now ORDER BY next_attempt_at, id LIMIT :limit"
                        " FOR UPDATE SKIP LOCKED"
                    ),
                    {"now": now, "limit": limit},
                )
            ]
            if not ids:
                return []
            conn.execute(
                text(
                    "UPDATE inbound_events SET status = 'processing', attempts = attempts + 1,"
                    " lease_owner = :owner, lease_expires_at = :until WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"owner": owner, "until": now + dt.timedelta(seconds=lease_seconds), "ids": ids},
            )
            rows = conn.execute(
                text(f"SELECT {_COLUMNS} FROM inbound_events WHERE id IN :ids ORDER BY id"),
                {"ids": tuple(ids)},
            ).fetchall()
        return [_event(r) for r in rows]

    def _finish_once(
        self,
        event: InboundEvent,
        owner: str,
        status: str,
        error: str | None = None,
        retry_at: dt.datetime | None = None,
    ) -> bool:
        """Records the outcome only if this worker still holds the lease (else another took over)."""
        now = utcnow()
        with self._engine.begin() as conn:
            result = conn.execute(
                text(
                    "UPDATE inbound_events SET status = :status, last_error = :error, lease_owner = NULL,"
                    " lease_expires_at = NULL, processed_at = IF(:status = 'processed', :now, processed_at),"
                    " next_attempt_at = COALESCE(:retry_at, next_attempt_at)"
                    " WHERE id = :id AND status = 'processing' AND lease_owner = :owner"
                ),
                {
                    "status": status,
                    "error": (error or None) and error[:1000],
                    "now": now,
                    "retry_at": retry_at,
                    "id": event.id,
                    "owner": owner,
                },
            )
        return result.rowcount == 1

    def _release_once(self, owner: str) -> int:
        """Gives this worker's unfinished claims back (graceful shutdown); their attempt is not counted."""
        with self._engine.begin() as conn:
            return conn.execute(
                text(
                    "UPDATE inbound_events SET status = 'pending', attempts = GREATEST(attempts - 1, 0),"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE status = 'processing' AND lease_owner = :o"
                ),
                {"o": owner},
            ).rowcount

    def _reap_expired_leases_once(self) -> int:
        """Events whose worker died mid-processing go back to pending."""
        with self._engine.begin() as conn:
            return conn.execute(
                text(
                    "UPDATE inbound_events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE status = 'processing' AND lease_expires_at < :now"
                ),
                {"now": utcnow()},
            ).rowcount

    # Every write runs again after a deadlock or lock wait timeout: each is one transaction whose
    # effect is all or nothing, and claims/outcomes are conditional on the lease they hold.
    def retry(self, source: str, event_id: str) -> bool:
        return retry_transaction(lambda: self._retry_once(source, event_id))

    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[InboundEvent]:
        return retry_transaction(lambda: self._claim_once(owner, limit, lease_seconds))

    def finish(
        self,
        event: InboundEvent,
        owner: str,
        status: str,
        error: str | None = None,
        retry_at: dt.datetime | None = None,
    ) -> bool:
        recorded = retry_transaction(lambda: self._finish_once(event, owner, status, error, retry_at))
        if recorded:
            WEBHOOK_EVENTS.labels(status).inc()
        return recorded

    def release(self, owner: str) -> int:
        return retry_transaction(lambda: self._release_once(owner))

    def reap_expired_leases(self) -> int:
        return retry_transaction(self._reap_expired_leases_once)
