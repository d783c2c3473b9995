"""Hands the catalog's outbox rows to the webhook service (internal gRPC), at least once, in order.

Rows are locked with SKIP LOCKED while being handed over, so replicas relay side by side without
sending a row twice at once; the webhook service is idempotent per outbox id, so a row sent again
after a crash creates no second delivery.
"""

from __future__ import annotations

import logging
import threading

import grpc
from farmlokal.webhook.v1 import webhook_internal_pb2 as wpb
from farmlokal.webhook.v1 import webhook_internal_pb2_grpc as wpb_grpc
from sqlalchemy import Engine

from catalog_service import outbox_store
from farmlokal_common.timestamps import timestamp

log = logging.getLogger("farmlokal.catalog.outbox")


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        channel: grpc.Channel,
        batch: int = 100,
        idle_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._engine = engine
        self._publisher = wpb_grpc.EventPublishServiceStub(channel)
        self._batch = batch
        self._idle = idle_seconds
        self._timeout = timeout_seconds

    def run(self, stopping: threading.Event) -> None:
        backoff = self._idle
        while not stopping.is_set():
            try:
                relayed = self.relay_once()
                backoff = self._idle
            except grpc.RpcError as error:
                log.warning("outbox relay: webhook service unavailable", extra={"code": error.code().name})
                relayed, backoff = 0, min(backoff * 2, 10.0)
            except Exception:
                log.exception("outbox relay iteration failed")
                relayed, backoff = 0, min(backoff * 2, 10.0)
            if not relayed:
                stopping.wait(backoff)

    def relay_once(self) -> int:
        with self._engine.begin() as conn:
            rows = outbox_store.claim(conn, self._batch)
            if not rows:
                return 0
            events = [
                wpb.CatalogEvent(
                    outbox_id=r.id,
                    type=r.event_type,
                    payload_json=r.payload,
                    occurred_at=timestamp(r.created_at),
                )
                for r in rows
            ]
            self._publisher.PublishCatalogEvents(
                wpb.PublishCatalogEventsRequest(events=events), timeout=self._timeout
            )
            outbox_store.mark_relayed(conn, [r.id for r in rows])
        return len(rows)
