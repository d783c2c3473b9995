"""Inbound events as the admin routes see them: one event, a page by status, a retry of a failed one."""

from __future__ import annotations

from farmlokal_common.errors import FieldViolation, InvalidArgument, NotFound
from webhook_service.domain import EVENT_STATUSES, InboundEvent
from webhook_service.event_store import EventStore


class Events:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def get(self, source: str, event_id: str) -> InboundEvent:
        event = self._store.get(source, event_id)
        if event is None:
            raise NotFound(f"no event {event_id!r} from source {source!r}")
        return event

    def page(self, status: str, after_id: int, limit: int) -> tuple[list[InboundEvent], bool]:
        """Events after `after_id` (any status when empty) and whether more follow."""
        status = status.lower()
        if status and status not in EVENT_STATUSES:
            raise InvalidArgument(
                FieldViolation("status", f"status must be one of {', '.join(EVENT_STATUSES)}")
            )
        rows = self._store.page(status or None, after_id, limit + 1)
        return rows[:limit], len(rows) > limit

    def retry(self, source: str, event_id: str) -> InboundEvent:
        """A failed or dead event back to pending, due now, with a fresh retry budget."""
        if not self._store.retry(source, event_id):
            event = self.get(source, event_id)
            raise InvalidArgument(
                FieldViolation(
                    "event_id", f"only failed or dead events can be retried; this one is {event.status}"
                )
            )
        return self.get(source, event_id)
