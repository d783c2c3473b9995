"""Receiving a signed supplier event: verify, store durably with UNIQUE(source, event_id), answer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis

from farmlokal_common.errors import FieldViolation, InvalidArgument, NotFound, Unauthenticated
from farmlokal_common.json_body import JsonBodyError, load_json_object
from farmlokal_common.request_text import has_control_character
from webhook_service import signature as sig
from webhook_service.event_store import EventStore
from webhook_service.metrics import WEBHOOK_EVENTS

log = logging.getLogger("farmlokal.webhooks.inbound")
SEEN_TTL_SECONDS = 7 * 24 * 3600


def parse_source_secrets(spec: str) -> dict[str, list[bytes]]:
    """'supplier=whsec_a,supplier=whsec_b,other=whsec_c': several secrets per source during rotation."""
    sources: dict[str, list[bytes]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        source, _, secret = item.partition("=")
        if not source or not secret:
            raise ValueError("WEBHOOK_SOURCE_SECRETS entries look like source=whsec_...")
        sources.setdefault(source.strip(), []).append(sig.secret_key(secret.strip()))
    return sources


@dataclass(frozen=True)
class Receipt:
    event_id: str
    status: str  # accepted or duplicate


class InboundWebhooks:
    def __init__(
        self,
        store: EventStore,
        client: redis.Redis,
        sources: dict[str, list[bytes]],
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._redis = client
        self._sources = sources
        self._on_stored = on_stored  # wakes this process's event workers

    def receive(self, source: str, headers: dict[str, str], body: bytes) -> Receipt:
        keys = self._sources.get(source)
        if keys is None:
            raise NotFound(f"unknown webhook source {source!r}")
        try:
            signed = sig.parse_headers(headers)
        except sig.MalformedHeaders as error:
            raise InvalidArgument(FieldViolation("headers", str(error))) from None
        try:
            sig.verify(keys, signed, body)
        except sig.InvalidSignature as error:
            raise Unauthenticated(f"webhook rejected: {error}") from None
        event_type = _event_type(body)
        if self._seen(source, signed.message_id):
            WEBHOOK_EVENTS.labels("duplicate").inc()
            return Receipt(signed.message_id, "duplicate")
        stored = self._store.insert(source, signed.message_id, event_type, body)
        self._mark_seen(source, signed.message_id)  # only after the commit: Redis never runs ahead of MySQL
        if stored:
            self._on_stored()
        WEBHOOK_EVENTS.labels("accepted" if stored else "duplicate").inc()
        return Receipt(signed.message_id, "accepted" if stored else "duplicate")

    def _seen(self, source: str, event_id: str) -> bool:
        try:
            return bool(self._redis.exists(_seen_key(source, event_id)))
        except redis.RedisError:
            return False  # MySQL's UNIQUE constraint still decides

    def _mark_seen(self, source: str, event_id: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self._redis.set(_seen_key(source, event_id), 1, ex=SEEN_TTL_SECONDS)


def _seen_key(source: str, event_id: str) -> str:
    return f"webhooks:seen:{source}:{event_id}"


def _event_type(body: bytes) -> str:
    """The envelope is checked before the event is stored: a body no worker could ever read is a 400
    now, not a dead event later. What `data` holds is the event handler's to judge."""
    try:
        document = load_json_object(body)
    except JsonBodyError as error:
        raise InvalidArgument(FieldViolation("body", f"the body must be a JSON object ({error})")) from None
    event_type = document.get("type")
    if (
        not isinstance(event_type, str)
        or not event_type.strip()
        or len(event_type) > 128
        or has_control_character(event_type)
    ):
        raise InvalidArgument(
            FieldViolation(
                "type",
                "type must be a non-empty string of at most 128 characters, without control characters",
            )
        )
    if "data" in document and not isinstance(document["data"], dict):
        raise InvalidArgument(FieldViolation("data", "data must be a JSON object"))
    return event_type
