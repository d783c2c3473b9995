"""Signed supplier webhooks and their event status, as a careless (or hostile) supplier sends them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from tests.e2e.auth_sandbox import SandboxProcess
from webhook_service.signature import secret_key, sign

SUPPLIER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the dev default of WEBHOOK_SOURCE_SECRETS
FINAL_STATUSES = ("processed", "dead")


def signed_headers(raw: bytes, event_id: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret_key(SUPPLIER_SECRET), event_id, now, raw),
    }


def post_signed(
    client: httpx.Client, body: bytes | dict[str, Any], query: str = ""
) -> tuple[str, httpx.Response]:
    """(event id, response) for one signed delivery of `body` (bytes as they are, a dict as JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event_id = f"evt_{uuid.uuid4().hex}"
    response = client.post(
        f"/v1/webhooks/supplier{query}", content=raw, headers=signed_headers(raw, event_id)
    )
    return event_id, response


def final_status(
    client: httpx.Client, sandbox: SandboxProcess, event_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """The event's status once it is processed or dead (polled; fails after `timeout`)."""
    auth = {"authorization": f"Bearer {sandbox.token(scope='webhooks:admin')}"}
    deadline = time.monotonic() + timeout
    while True:
        event = client.get(f"/v1/webhooks/events/supplier/{event_id}", headers=auth).json()
        if event.get("status") in FINAL_STATUSES or time.monotonic() > deadline:
            return event
        time.sleep(0.05)
