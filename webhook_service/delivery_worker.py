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

import httpx

from farmlokal_common.errors import InvalidArgument
from farmlokal_common.timestamps import utcnow
from webhook_service.delivery_store import DeliveryStore
from webhook_service.domain import ClaimedDelivery, Outcome
from webhook_service.metrics import WEBHOOK_DELIVERIES
from webhook_service.pacing import Pacing
from webhook_service.signature import secret_key, sign
from webhook_service.url_policy import UrlPolicy

log = logging.getLogger("farmlokal.webhooks.delivery")


class DeliveryWorker:
    def __init__(
        self,
        store: DeliveryStore,
        client: httpx.Client,
        policy: UrlPolicy,
        retry_delays: Sequence[float],
        pacing: Pacing,
        timeout_seconds: float = 15.0,
        lease_seconds: float = 60.0,
        batch: int = 10,
    ) -> None:
        self._store = store
        self._client = client
        self._policy = policy
        self._delays = list(retry_delays)
        self._timeout = timeout_seconds
        self._lease = lease_seconds
        self._batch = batch
        self._pacing = pacing
        self.owner = uuid.uuid4().hex

    def run(self, stopping: threading.Event) -> None:
        empty_polls = 0
        while not stopping.is_set():
            try:
                worked = self.run_once(stopping)
            except Exception:
                log.exception("delivery worker iteration failed")
                worked = 0
            empty_polls = 0 if worked else empty_polls + 1
            if empty_polls:
                self._pacing.idle(empty_polls)
        self._store.release(self.owner)

    def run_once(self, stopping: threading.Event | None = None) -> int:
        claimed = self._store.claim(self.owner, self._batch, self._lease)
        for delivery in claimed:
            if stopping is not None and stopping.is_set():
                break
            self._deliver(delivery)
        return len(claimed)

    def _deliver(self, delivery: ClaimedDelivery) -> None:
        # A 410 earlier in this batch may have disabled the subscription.
        if not self._store.subscription_enabled(delivery.subscription_id):
            self._finish(delivery, "dead", Outcome(None, 0, "subscription disabled"))
            return
        outcome = self._send(delivery)
        if outcome.succeeded:
            self._finish(delivery, "succeeded", outcome)
        elif outcome.status_code == 410:
            self._finish(delivery, "dead", outcome, disable="subscriber answered 410 Gone")
        elif delivery.attempts > len(self._delays):
            self._finish(delivery, "dead", outcome)
        else:
            retry_at = utcnow() + dt.timedelta(seconds=self._delays[delivery.attempts - 1])
            self._finish(delivery, "failed", outcome, retry_at=retry_at)

    def _send(self, delivery: ClaimedDelivery) -> Outcome:
        started = time.perf_counter()
        try:
            self._policy.check(delivery.url)  # again at send time: DNS may have changed since registration
        except InvalidArgument as error:
            return Outcome(None, 0, error.message[:255])
        message_id, now = f"msg_{delivery.outbox_id}", int(time.time())
        body = json.dumps(
            {
                "type": delivery.event_type,
                "timestamp": delivery.occurred_at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"),
                "data": json.loads(delivery.payload),
            }
        ).encode()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(secret_key(delivery.secret), message_id, now, body),
        }
        try:
            response = self._client.post(delivery.url, content=body, headers=headers, timeout=self._timeout)
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
        delivery: ClaimedDelivery,
        status: str,
        outcome: Outcome,
        retry_at: dt.datetime | None = None,
        disable: str | None = None,
    ) -> None:
        self._store.record(delivery, self.owner, status, outcome, retry_at, disable)
        WEBHOOK_DELIVERIES.labels(status, delivery.subscription_id).inc()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
