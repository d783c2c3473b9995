"""Sends deliveries to subscribers: signed (Standard Webhooks), every attempt recorded, retried on a
schedule, dead after the last attempt; a 410 disables the subscription."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, bindparam, text

from farmlokal_common.db import retry_transaction
from farmlokal_common.errors import InvalidArgument
from farmlokal_common.metrics import WEBHOOK_DELIVERIES
from farmlokal_common.timestamps import utcnow
from farmlokal_common.webhook_signature import secret_key, sign
from webhook_service.url_policy import UrlPolicy

log = logging.getLogger("farmlokal.webhooks.delivery")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        client: httpx.Client,
        policy: UrlPolicy,
        retry_delays: Sequence[float],
        timeout_seconds: float = 15.0,
        lease_seconds: float = 60.0,
        batch: int = 10,
        idle_seconds: float = 0.2,
    ) -> None:
        self._engine = engine
        self._client = client
        self._policy = policy
        self._delays = list(retry_delays)
        self._timeout = timeout_seconds
        self._lease = lease_seconds
        self._batch = batch
        self._idle = idle_seconds
        self.owner = uuid.uuid4().hex

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                worked = self.run_once(stopping)
            except Exception:
                log.exception("delivery worker iteration failed")
                worked = 0
            if not worked:
                stopping.wait(self._idle)
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE status = 'delivering' AND lease_owner = :o"
                ),
                {"o": self.owner},
            )

    def run_once(self, stopping: threading.Event | None = None) -> int:
        claimed = self._claim()
        for delivery in claimed:
            if stopping is not None and stopping.is_set():
                break
            self._deliver(delivery)
        return len(claimed)

    def _claim(self) -> list[Any]:
        return retry_transaction(self._claim_once)

    def _claim_once(self) -> list[Any]:
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
                    {"now": now, "n": self._batch},
                )
            ]
            if not ids:
                return []
            conn.execute(
                text(
                    "UPDATE deliveries SET status = 'delivering', attempts = attempts + 1, lease_owner = :o,"
                    " lease_expires_at = :until WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"o": self.owner, "until": now + dt.timedelta(seconds=self._lease), "ids": ids},
            )
            return list(
                conn.execute(
                    text(
                        "SELECT d.id, d.attempts, d.outbox_id, d.subscription_id, s.url, s.secret, s.enabled,"
                        " e.type, e.payload, e.occurred_at FROM deliveries d"
                        " JOIN subscriptions s ON s.id = d.subscription_id"
                        " JOIN catalog_events e ON e.outbox_id = d.outbox_id WHERE d.id IN :ids ORDER BY d.id"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": ids},
                ).fetchall()
            )

    def _deliver(self, d: Any) -> None:
        if not self._still_enabled(d.subscription_id):  # a 410 earlier in this batch may have disabled it
            self._finish(d, "dead", Outcome(None, 0, "subscription disabled"))
            return
        outcome = self._send(d)
        if outcome.succeeded:
            self._finish(d, "succeeded", outcome)
        elif outcome.status_code == 410:
            self._finish(d, "dead", outcome, disable="subscriber answered 410 Gone")
        elif d.attempts > len(self._delays):
            self._finish(d, "dead", outcome)
        else:
            retry_at = utcnow() + dt.timedelta(seconds=self._delays[d.attempts - 1])
            self._finish(d, "failed", outcome, retry_at=retry_at)

    def _still_enabled(self, subscription_id: str) -> bool:
        with self._engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT enabled FROM subscriptions WHERE id = :s"), {"s": subscription_id}
                ).scalar()
            )

    def _send(self, d: Any) -> Outcome:
        started = time.perf_counter()
        try:
            self._policy.check(d.url)  # again at send time: DNS may have changed since registration
        except InvalidArgument as error:
            return Outcome(None, 0, error.message[:255])
        message_id, now = f"msg_{d.outbox_id}", int(time.time())
        body = json.dumps(
            {
                "type": d.type,
                "timestamp": d.occurred_at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"),
                "data": json.loads(d.payload),
            }
        ).encode()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(secret_key(d.secret), message_id, now, body),
        }
        try:
            response = self._client.post(d.url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            return Outcome(None, _ms(started), "timeout")
        except httpx.HTTPError as error:
            return Outcome(None, _ms(started), type(error).__name__)
        return Outcome(
            response.status_code,
            _ms(started),
            None if response.is_success else f"HTTP {response.status_code}",
        )

    def _finish(
        self,
        d: Any,
        status: str,
        outcome: Outcome,
        retry_at: dt.datetime | None = None,
        disable: str | None = None,
    ) -> None:
        retry_transaction(lambda: self._record(d, status, outcome, retry_at, disable))
        WEBHOOK_DELIVERIES.labels(status, d.subscription_id).inc()

    def _record(
        self,
        d: Any,
        status: str,
        outcome: Outcome,
        retry_at: dt.datetime | None,
        disable: str | None,
    ) -> None:
        now = utcnow()
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, error)"
                    " VALUES (:d, :now, :code, :ms, :error)"
                ),
                {
                    "d": d.id,
                    "now": now,
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
                {"status": status, "retry_at": retry_at, "d": d.id, "o": self.owner},
            )
            if disable:
                conn.execute(
                    text("UPDATE subscriptions SET enabled = FALSE, disabled_reason = :r WHERE id = :s"),
                    {"r": disable, "s": d.subscription_id},
                )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
