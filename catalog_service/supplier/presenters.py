"""Protobuf messages of the supplier admin routes."""

from __future__ import annotations

from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.supplier.status import SyncRun


def sync_summary(run: SyncRun) -> pb.SyncSummary:
    summary = run.summary
    return pb.SyncSummary(
        fetched=summary.fetched,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        failed=summary.failed,
        duration_ms=summary.duration_ms,
        breaker_state=summary.breaker_state,
        error=run.error,
    )
