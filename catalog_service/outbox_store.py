"""SQL of the catalog's outbox: rows appended in the write's transaction, claimed and marked by the relay."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, text


def append(conn: Connection, event_type: str, product_id: int, payload: str, now: dt.datetime) -> None:
    conn.execute(
        text(
            "INSERT INTO catalog_outbox (event_type, product_id, payload, created_at)"
            " VALUES (:t, :pid, :payload, :now)"
        ),
        {"t": event_type, "pid": product_id, "payload": payload, "now": now},
    )


def claim(conn: Connection, limit: int) -> list[Any]:
    """Rows not relayed yet, oldest first, locked (SKIP LOCKED: replicas relay side by side)."""
    return list(
        conn.execute(
            text(
                "SELECT id, event_type, payload, created_at FROM catalog_outbox WHERE relayed_at IS NULL"
                " ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": limit},
        ).fetchall()
    )


def mark_relayed(conn: Connection, ids: list[int]) -> None:
    conn.execute(
        text("UPDATE catalog_outbox SET relayed_at = UTC_TIMESTAMP(6) WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": ids},
    )
