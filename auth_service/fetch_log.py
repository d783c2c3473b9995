"""Records every provider call in the auth schema: when, latency, outcome, expiry; never the token."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, text

from auth_service.metrics import TOKEN_FETCHES
from auth_service.provider import FetchOutcome

log = logging.getLogger("farmlokal.auth.fetch_log")


class FetchLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, outcome: FetchOutcome, audience: str, scope: str) -> None:
        """Best effort: a failed insert is logged and never fails the token fetch itself."""
        TOKEN_FETCHES.labels(outcome.outcome).inc()
        token = outcome.token
        row = {
            "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "audience": audience[:255],
            "scope": scope[:255],
            "outcome": outcome.outcome,
            "status": outcome.http_status,
            "latency": outcome.latency_ms,
            "expires": dt.datetime.fromtimestamp(token.expires_at, dt.UTC).replace(tzinfo=None)
            if token
            else None,
            "fingerprint": token.fingerprint if token else None,
            "error": outcome.error[:255] or None,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO token_fetches (fetched_at, audience, scope, outcome, http_status, latency_ms,"
                        " expires_at, fingerprint, error) VALUES (:at, :audience, :scope, :outcome, :status,"
                        " :latency, :expires, :fingerprint, :error)"
                    ),
                    row,
                )
        except Exception as error:
            log.warning("token fetch not recorded", extra={"error": type(error).__name__})
