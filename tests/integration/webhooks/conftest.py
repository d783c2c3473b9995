"""Fixtures for the webhook service: a clean schema, signed requests, a local subscriber server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, create_engine, text

from webhook_service.event_store import EventStore
from webhook_service.inbound import InboundWebhooks, parse_source_secrets
from webhook_service.signature import secret_key, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def engine(migrated) -> Iterator[Engine]:
    engine = create_engine(migrated.service_url("webhooks"), pool_size=20)
    with engine.begin() as conn:
        for table in ("delivery_attempts", "deliveries", "catalog_events", "subscriptions", "inbound_events"):
            conn.execute(text(f"DELETE FROM {table}"))
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> EventStore:
    return EventStore(engine)


@pytest.fixture
def inbound(store: EventStore, redis_client) -> InboundWebhooks:
    return InboundWebhooks(store, redis_client, parse_source_secrets(f"supplier={SECRET}"))


def signed(event_id: str, body: dict | bytes, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret_key(SECRET), event_id, ts, raw),
    }
    return headers, raw


class Subscriber:
    """A local HTTP endpoint that records what it receives and answers with a chosen status."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.close()
