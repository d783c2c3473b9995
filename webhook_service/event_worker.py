"""Processes stored inbound events: claim with a lease, apply to the catalog, record the outcome.

Several replicas run this side by side (claims use SKIP LOCKED). A failure schedules a retry on a
growing delay; after the last attempt the event is dead. An event whose worker died returns to
pending when its lease expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Sequence

from farmlokal_common.timestamps import utcnow
from webhook_service.event_store import EventStore, InboundEvent
from webhook_service.handlers import CatalogEventHandler, Ignored, PermanentFailure
from webhook_service.metrics import WEBHOOK_BACKLOG_AGE
from webhook_service.pacing import Pacing

log = logging.getLogger("farmlokal.webhooks.worker")
# How often the backlog's age is read for its gauge (the WebhookBacklogOld alert waits minutes).
BACKLOG_READING_SECONDS = 5.0
# How often expired leases (a worker that died mid-event) go back to pending, per process.
REAPING_SECONDS = 1.0


class EventWorker:
    def __init__(
        self,
        store: EventStore,
        handler: CatalogEventHandler,
        retry_delays: Sequence[float],
        pacing: Pacing,
        lease_seconds: float = 30.0,
        batch: int = 10,
    ) -> None:
        self._store = store
        self._handler = handler
        self._retry_delays = list(retry_delays)
        self._lease_seconds = lease_seconds
        self._batch = batch
        self._pacing = pacing
        self.owner = uuid.uuid4().hex

    @property
    def max_attempts(self) -> int:
        return len(self._retry_delays) + 1

    def run(self, stopping: threading.Event) -> None:
        """Background loop until stopping is set; then unfinished claims are released."""
        empty_polls = 0
        while not stopping.is_set():
            try:
                if self._pacing.due("reap leases", REAPING_SECONDS):
                    self._store.reap_expired_leases()
                if self._pacing.due("backlog age", BACKLOG_READING_SECONDS):
                    oldest = self._store.oldest_backlog_received_at()
                    WEBHOOK_BACKLOG_AGE.set((utcnow() - oldest).total_seconds() if oldest else 0.0)
                worked = self.run_once(stopping)
            except Exception:
                log.exception("event worker iteration failed")
                worked = 0
            empty_polls = 0 if worked else empty_polls + 1
            if empty_polls:
                self._pacing.idle(empty_polls)
        released = self._store.release(self.owner)
        log.info("event worker stopped", extra={"released": released})

    def run_once(self, stopping: threading.Event | None = None) -> int:
        events = self._store.claim(self.owner, self._batch, self._lease_seconds)
        for event in events:
            if stopping is not None and stopping.is_set():
                break  # the rest is released by run()
            self._process(event)
        return len(events)

    def _process(self, event: InboundEvent) -> None:
        try:
            self._handler.apply(event.type, event.payload)
        except Ignored as note:
            self._store.finish(event, self.owner, "processed", str(note))
        except PermanentFailure as error:
            log.warning("event is dead", extra={"event_id": event.event_id, "error": str(error)})
            self._store.finish(event, self.owner, "dead", str(error))
        except Exception as error:
            self._schedule_retry(event, f"{type(error).__name__}: {_describe(error)}")
        else:
            self._store.finish(event, self.owner, "processed")

    def _schedule_retry(self, event: InboundEvent, error: str) -> None:
        if event.attempts >= self.max_attempts:
            log.warning("event is dead after its last attempt", extra={"event_id": event.event_id})
            self._store.finish(event, self.owner, "dead", error)
            return
        delay = self._retry_delays[event.attempts - 1]
        # Logged, not only stored: a run of failures (the catalog refusing writes under load) must be
        # visible without querying the events table.
        log.warning(
            "event failed, retry scheduled",
            extra={
                "event_id": event.event_id,
                "attempt": event.attempts,
                "retry_in_s": delay,
                "error": error,
            },
        )
        self._store.finish(
            event, self.owner, "failed", error, retry_at=utcnow() + dt.timedelta(seconds=delay)
        )


def _describe(error: Exception) -> str:
    details = getattr(error, "details", None)
    return str(details() if callable(details) else error)[:500]
