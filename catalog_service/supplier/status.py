"""The supplier sync's records in the catalog schema: the watermark, and every run with its summary and error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, text


@dataclass
class SyncSummary:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duration_ms: int = 0
    breaker_state: str = "closed"


@dataclass(frozen=True)
class SyncRun:
    summary: SyncSummary
    started_at: dt.datetime  # UTC
    finished_at: dt.datetime  # UTC
    error: str = ""
    trigger: str = "manual"  # manual or periodic
    mode: str = "incremental"  # incremental or full


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC)


class SyncStore:
    def __init__(self, engine: Engine, supplier: str = "supplier_api") -> None:
        self._engine = engine
        self._supplier = supplier

    def watermark(self) -> dt.datetime | None:
        with self._engine.connect() as conn:
            value = conn.execute(
                text("SELECT watermark FROM supplier_sync_state WHERE supplier = :s"), {"s": self._supplier}
            ).scalar()
        return _utc(value) if value is not None else None

    def save_watermark(self, watermark: dt.datetime) -> None:
        """Only ever moves forward, so a slow run finishing late cannot move it back."""
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO supplier_sync_state (supplier, watermark, updated_at) VALUES (:s, :w, :now)"
                    " ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at),"
                    " watermark = IF(watermark IS NULL OR watermark < VALUES(watermark), VALUES(watermark), watermark)"
                ),
                {"s": self._supplier, "w": _naive(watermark), "now": _naive(dt.datetime.now(dt.UTC))},
            )

    def record(self, run: SyncRun) -> None:
        s = run.summary
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO supplier_sync_runs (supplier, trigger_kind, mode, started_at, finished_at,"
                    " fetched, created, updated, unchanged, failed, duration_ms, breaker_state, error)"
                    " VALUES (:supplier, :trigger, :mode, :started, :finished, :fetched, :created, :updated,"
                    " :unchanged, :failed, :duration, :breaker, :error)"
                ),
                {
                    "supplier": self._supplier,
                    "trigger": run.trigger,
                    "mode": run.mode,
                    "started": _naive(run.started_at),
                    "finished": _naive(run.finished_at),
                    "fetched": s.fetched,
                    "created": s.created,
                    "updated": s.updated,
                    "unchanged": s.unchanged,
                    "failed": s.failed,
                    "duration": s.duration_ms,
                    "breaker": s.breaker_state,
                    "error": run.error[:500],
                },
            )

    def latest(self) -> SyncRun | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM supplier_sync_runs WHERE supplier = :s ORDER BY id DESC LIMIT 1"),
                {"s": self._supplier},
            ).first()
        if row is None:
            return None
        m = row._mapping
        summary = SyncSummary(
            m["fetched"],
            m["created"],
            m["updated"],
            m["unchanged"],
            m["failed"],
            m["duration_ms"],
            m["breaker_state"],
        )
        return SyncRun(
            summary, _utc(m["started_at"]), _utc(m["finished_at"]), m["error"], m["trigger_kind"], m["mode"]
        )
