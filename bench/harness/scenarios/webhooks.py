"""B6: signed inbound webhooks through the REST edge (Envoy -> WebhookService.ReceiveWebhook).

Runs, each with vegeta and a JSON targets file signed right before it:
- distinct ids at a fixed 600 req/s (every one a new `product.upserted`), then saturation;
- one event id over and over at a fixed 1,200 req/s, then saturation.
The answers' bodies are kept and counted (`accepted` / `duplicate`). After the distinct runs the
harness waits (bounded) for the webhook worker to process what was accepted, then checks that none
was lost and none processed twice: in the own stack from the webhooks and catalog schemas, against
a deployment through the admin REST API when BENCH_ADMIN_TOKEN is set (else: not verifiable).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

import httpx

from bench.harness import webhooks as wh
from bench.harness.figures import FAIL, Measurement, Row, fail_on_errors, verdict
from bench.harness.loadgen_targets import VegetaTargetsRun, run_vegeta_targets
from bench.harness.scenarios.context import Context
from bench.harness.stack import WEBHOOK_SECRET, WEBHOOK_SOURCE
from webhook_service import signature as sig

DISTINCT_RATE = 600
DUPLICATE_RATE = 1200
ACCEPTED_BAR = 500.0
DUPLICATE_BAR = 1000.0
SATURATION_WORKERS = 32
# Distinct targets written for a saturation run, per second of it: more than the edge can take here,
# and vegeta -lazy stops at the end of the list rather than repeat an id.
SATURATION_TARGETS_PER_S = 2500
SATURATION_SHARE = 0.5  # distinct saturation runs this share of the saturation duration: its events drain too
# Drained: every event attempted. A `failed` one waits for a retry minutes away: the check reports it.
IN_FLIGHT = ("pending", "processing")
STALL_S = 20.0
ADMIN_TOKEN_ENV = "BENCH_ADMIN_TOKEN"
SECRET_ENV = "BENCH_WEBHOOK_SECRET"
SOURCE_ENV = "BENCH_WEBHOOK_SOURCE"


class EventReader(Protocol):
    """Where the after-run check reads the run's events (and products) from."""

    description: str

    def statuses(self) -> dict[str, int]: ...

    def processing_window(self) -> tuple[int, float] | None: ...

    def events(self, ids: list[str]) -> dict[str, wh.StoredEvent]: ...

    def products(self, ids: list[str]) -> dict[str, int] | None: ...

    def close(self) -> None: ...


class DatabaseReader:
    """Own stack: the webhooks and catalog schemas, with the services' own database URLs."""

    def __init__(self, webhook_url: str, catalog_url: str, source: str, run: str) -> None:
        from sqlalchemy import create_engine

        self._webhooks = create_engine(webhook_url, pool_pre_ping=True)
        self._catalog = create_engine(catalog_url, pool_pre_ping=True)
        self._source = source
        self._pattern = wh.event_id(run, "%")
        self.description = "webhooks.inbound_events and catalog.products read directly"

    def statuses(self) -> dict[str, int]:
        from sqlalchemy import text

        with self._webhooks.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, COUNT(*) FROM inbound_events WHERE source = :s AND event_id LIKE :p"
                    " GROUP BY status"
                ),
                {"s": self._source, "p": self._pattern},
            ).fetchall()
        return {str(status): int(n) for status, n in rows}

    def processing_window(self) -> tuple[int, float] | None:
        """Processed events and the seconds from the first one received to the last one processed."""
        from sqlalchemy import text

        with self._webhooks.connect() as conn:
            count, first, last = conn.execute(
                text(
                    "SELECT COUNT(*), MIN(received_at), MAX(processed_at) FROM inbound_events"
                    " WHERE source = :s AND event_id LIKE :p AND status = 'processed'"
                ),
                {"s": self._source, "p": self._pattern},
            ).one()
        if not count or first is None or last is None:
            return None
        return int(count), (last - first).total_seconds()

    def events(self, ids: list[str]) -> dict[str, wh.StoredEvent]:
        from sqlalchemy import text

        with self._webhooks.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_id, status, attempts FROM inbound_events"
                    " WHERE source = :s AND event_id LIKE :p"
                ),
                {"s": self._source, "p": self._pattern},
            ).fetchall()
        return {str(e): wh.StoredEvent(str(s), int(a)) for e, s, a in rows}

    def products(self, ids: list[str]) -> dict[str, int] | None:
        from sqlalchemy import text

        with self._catalog.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT external_id, COUNT(*) FROM products WHERE external_id LIKE :p GROUP BY external_id"
                ),
                {"p": self._pattern},
            ).fetchall()
        return {str(e): int(n) for e, n in rows}

    def close(self) -> None:
        self._webhooks.dispose()
        self._catalog.dispose()


class AdminApiReader:
    """A deployment: GET /v1/webhooks/events/{source}/{id} with an admin token (webhooks:admin).

    The catalog has no lookup by external_id on the public API, so products are not checked there
    (its UNIQUE(external_id) allows one product per id at most); a reprocessed event shows as attempts > 1.
    """

    def __init__(self, rest_url: str, token: str, source: str) -> None:
        self._http = httpx.Client(
            base_url=rest_url, headers={"authorization": f"Bearer {token}"}, timeout=10, trust_env=False
        )
        self._source = source
        self.description = "admin REST API (GET /v1/webhooks/events/...); catalog rows not checked"

    def statuses(self) -> dict[str, int]:
        counts = {}
        for status in IN_FLIGHT:
            answer = self._http.get("/v1/webhooks/events", params={"status": status, "limit": "1"})
            answer.raise_for_status()
            counts[status] = len(answer.json().get("events", []))  # 0 or "some", for the drain loop
        return counts

    def processing_window(self) -> tuple[int, float] | None:
        return None

    def events(self, ids: list[str]) -> dict[str, wh.StoredEvent]:
        def one(message_id: str) -> tuple[str, wh.StoredEvent | None]:
            answer = self._http.get(f"/v1/webhooks/events/{self._source}/{message_id}")
            if answer.status_code == 404:
                return message_id, None
            answer.raise_for_status()
            body = answer.json()
            return message_id, wh.StoredEvent(body["status"], int(body.get("attempts", 0)))

        with ThreadPoolExecutor(16) as pool:
            found = dict(pool.map(one, ids))
        return {k: v for k, v in found.items() if v is not None}

    def products(self, ids: list[str]) -> dict[str, int] | None:
        return None

    def close(self) -> None:
        self._http.close()


def run_b6(ctx: Context) -> list[Row]:
    run = secrets.token_hex(4)
    # The own stack is configured with these; a deployment's come from the environment.
    source = WEBHOOK_SOURCE if ctx.stack else os.environ.get(SOURCE_ENV, WEBHOOK_SOURCE)
    key = sig.secret_key(WEBHOOK_SECRET if ctx.stack else os.environ.get(SECRET_ENV, WEBHOOK_SECRET))
    url = f"{ctx.target.rest_url}/v1/webhooks/{source}"
    probe_id = _probe(url, key, run)
    reader = _reader(ctx, source, run)
    try:
        return _measure(ctx, url, key, run, source, probe_id, reader)
    finally:
        if reader is not None:
            reader.close()


def _measure(
    ctx: Context, url: str, key: bytes, run: str, source: str, probe_id: str, reader: EventReader | None
) -> list[Row]:
    workdir = ctx.workdir / "B6"
    workdir.mkdir(parents=True, exist_ok=True)
    fixed_s = ctx.durations.fixed_rate
    saturation_s = ctx.durations.saturation

    ctx.say(f"B6: distinct ids, vegeta {DISTINCT_RATE} req/s {fixed_s:g}s (run {run})")
    fixed, fixed_receipts = _attack(
        ctx,
        workdir,
        "distinct-fixed",
        lambda now: wh.distinct_targets(url, key, run, "f", int(DISTINCT_RATE * fixed_s), now),
        VegetaTargetsRun(
            "distinct-fixed", workdir / "distinct-fixed.targets.jsonl", fixed_s, DISTINCT_RATE, lazy=True
        ),
    )
    sat_s = max(2.0, saturation_s * SATURATION_SHARE)
    ctx.say(f"B6: distinct ids, vegeta saturation ({SATURATION_WORKERS} workers) {sat_s:g}s")
    sat, sat_receipts = _attack(
        ctx,
        workdir,
        "distinct-saturation",
        lambda now: wh.distinct_targets(url, key, run, "s", int(SATURATION_TARGETS_PER_S * sat_s), now),
        VegetaTargetsRun(
            "distinct-saturation",
            workdir / "distinct-saturation.targets.jsonl",
            sat_s,
            0,
            max_workers=SATURATION_WORKERS,
            lazy=True,
        ),
    )
    accepted_ids = [probe_id, *fixed_receipts.accepted_ids, *sat_receipts.accepted_ids]
    drain = _drain(ctx, reader)
    check = _check(reader, accepted_ids)

    ctx.say(f"B6: all duplicates, vegeta {DUPLICATE_RATE} req/s {fixed_s:g}s")
    dup_fixed, dup_receipts = _attack(
        ctx,
        workdir,
        "duplicates-fixed",
        lambda now: [wh.duplicate_target(url, key, run, now)],
        VegetaTargetsRun(
            "duplicates-fixed", workdir / "duplicates-fixed.targets.jsonl", fixed_s, DUPLICATE_RATE
        ),
    )
    ctx.say(f"B6: all duplicates, vegeta saturation ({SATURATION_WORKERS} workers) {saturation_s:g}s")
    dup_sat, dup_sat_receipts = _attack(
        ctx,
        workdir,
        "duplicates-saturation",
        lambda now: [wh.duplicate_target(url, key, run, now)],
        VegetaTargetsRun(
            "duplicates-saturation",
            workdir / "duplicates-saturation.targets.jsonl",
            saturation_s,
            0,
            max_workers=SATURATION_WORKERS,
        ),
    )
    dup_id = wh.event_id(run, "dup")
    dup_accepted = [*dup_receipts.accepted_ids, *dup_sat_receipts.accepted_ids]
    dup_drain = _drain(ctx, reader)
    dup_check = _check(reader, dup_accepted, only={dup_id})
    common = {"run": run, "source": source, "check_by": reader.description if reader else "not verifiable"}
    return [
        _distinct_row("fixed rate", fixed, fixed_receipts, check, drain, common, fixed_rate=True),
        _distinct_row("saturation", sat, sat_receipts, check, drain, common, fixed_rate=False),
        _duplicate_row("fixed rate", dup_fixed, dup_receipts, dup_check, dup_drain, dup_id, common, ""),
        _duplicate_row(
            "saturation", dup_sat, dup_sat_receipts, dup_check, dup_drain, dup_id, common, "fixed-rate"
        ),
    ]


def _probe(url: str, key: bytes, run: str) -> str:
    """One signed event before the load: the route, the secret and the answer's shape must work."""
    message_id = wh.event_id(run, "probe")
    target = wh.signed_target(url, key, message_id, int(time.time()), wh.event_body(run, message_id, 0))
    headers = {k: v[0] for k, v in target["header"].items()}
    with httpx.Client(timeout=10, trust_env=False) as http:
        answer = http.post(url, content=wh.event_body(run, message_id, 0), headers=headers)
    if answer.status_code != 200 or answer.json().get("status") != "accepted":
        raise RuntimeError(f"a signed webhook to {url} answered {answer.status_code}: {answer.text[:300]}")
    return message_id


def _reader(ctx: Context, source: str, run: str) -> EventReader | None:
    if ctx.stack is not None:
        return DatabaseReader(
            ctx.stack.database_url("webhook"), ctx.stack.database_url("catalog"), source, run
        )
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        return AdminApiReader(ctx.target.rest_url, token, source)
    return None


def _attack(
    ctx: Context,
    workdir: Any,
    name: str,
    make_targets: Callable[[int], Any],
    run: VegetaTargetsRun,
) -> tuple[Measurement, wh.Receipts]:
    """Signs the targets now (fresh timestamps), attacks, and counts the answers from their bodies."""
    count = wh.write_targets(run.targets, make_targets(int(time.time())))
    measurement, encoded = run_vegeta_targets(ctx.tools, run, workdir)
    with open(encoded) as lines:
        receipts = wh.count_receipts(lines)
    encoded.unlink(missing_ok=True)  # one line per request; the counts go to the report
    figures = wh.without_exhaustion(measurement.figures, receipts.exhausted)
    config = {"targets_file": str(run.targets), "targets": count, "receipts": receipts.to_dict()}
    return replace(measurement, figures=figures, config=config), receipts


def _drain(ctx: Context, reader: EventReader | None) -> dict[str, Any]:
    """Waits until none of the run's events is pending or processing: at most durations.drain, and
    not past STALL_S without progress (a stuck worker is reported, not waited for)."""
    if reader is None:
        return {"drained": None, "seconds": 0.0}
    started = time.monotonic()
    deadline = started + ctx.durations.drain
    statuses = reader.statuses()
    left, progressed = _in_flight(statuses), started
    while left and time.monotonic() < deadline and time.monotonic() - progressed < STALL_S:
        time.sleep(0.5)
        statuses = reader.statuses()
        if _in_flight(statuses) < left:
            progressed = time.monotonic()
        left = _in_flight(statuses)
    seconds = time.monotonic() - started
    drained = left == 0
    ctx.say(f"B6: processing {'drained' if drained else 'NOT drained'} after {seconds:.1f} s: {statuses}")
    result: dict[str, Any] = {"drained": drained, "seconds": round(seconds, 1), "statuses": statuses}
    window = reader.processing_window()
    if window is not None:
        count, span = window
        result["processed"] = count
        result["processing_s"] = round(span, 1)
        result["processed_per_s"] = round(count / span, 1) if span > 0 else None
    return result


def _in_flight(statuses: dict[str, int]) -> int:
    return sum(statuses.get(status, 0) for status in IN_FLIGHT)


def _check(
    reader: EventReader | None, accepted: list[str], only: set[str] | None = None
) -> wh.DeliveryCheck | None:
    if reader is None:
        return None
    ids = sorted(set(accepted) | (only or set()))
    events = reader.events(ids)
    products = reader.products(ids)
    if only is not None:
        events = {k: v for k, v in events.items() if k in only}
        products = None if products is None else {k: v for k, v in products.items() if k in only}
    return wh.check_delivery(accepted, events, products)


def _check_note(check: wh.DeliveryCheck | None, drain: dict[str, Any], throughput: bool = True) -> str:
    if check is None:
        return (
            f"delivery not verifiable: set {ADMIN_TOKEN_ENV} (a token with webhooks:admin) for a deployment"
        )
    waited = (
        f"processing {'drained' if drain['drained'] else 'NOT drained'} {drain['seconds']:g} s after the runs"
    )
    if throughput and drain.get("processed_per_s"):
        waited += (
            f" (worker: {drain['processed']:,} events in {drain['processing_s']:g} s from first received"
            f" to last processed, {drain['processed_per_s']:g}/s)"
        )
    return f"check: {check.summary()}; {waited}"


def _apply_check(
    row: Row,
    check: wh.DeliveryCheck | None,
    drain: dict[str, Any],
    elsewhere: str = "",
    throughput: bool = True,
) -> Row:
    note = (
        f"delivery check in the {elsewhere} row (it covers both runs)"
        if elsewhere
        else _check_note(check, drain, throughput)
    )
    row.note = "; ".join(filter(None, [row.note, note]))
    row.extra["delivery_check"] = check.to_dict() if check else None
    row.extra["drain"] = drain
    if check is not None and not check.ok:
        row.verdict = FAIL
    return row


def _distinct_row(
    label: str,
    measured: Measurement,
    receipts: wh.Receipts,
    check: wh.DeliveryCheck | None,
    drain: dict[str, Any],
    common: dict[str, Any],
    fixed_rate: bool,
) -> Row:
    seconds = measured.figures.duration_s
    accepted_rate = receipts.accepted / seconds if seconds else 0.0
    ok = accepted_rate >= ACCEPTED_BAR and receipts.duplicates == 0 and not receipts.other
    row = Row(
        id="B6",
        scenario=f"inbound webhooks, distinct ids, {label}",
        bar=f">= {ACCEPTED_BAR:g} accepted/s; none lost, none processed twice",
        verdict=verdict(ok),
        measurement=measured,
        note=f"{receipts.accepted:,} accepted ({accepted_rate:,.0f}/s), {receipts.duplicates:,} duplicate"
        + (f", other {dict(receipts.other)}" if receipts.other else ""),
        extra={**common, "receipts": receipts.to_dict(), "accepted_per_s": round(accepted_rate, 1)},
    )
    _apply_check(row, check, drain, elsewhere="" if fixed_rate else "fixed-rate")
    return fail_on_errors(row)


def _duplicate_row(
    label: str,
    measured: Measurement,
    receipts: wh.Receipts,
    check: wh.DeliveryCheck | None,
    drain: dict[str, Any],
    dup_id: str,
    common: dict[str, Any],
    elsewhere: str,
) -> Row:
    seconds = measured.figures.duration_s
    duplicate_rate = receipts.duplicates / seconds if seconds else 0.0
    ok = duplicate_rate >= DUPLICATE_BAR and not receipts.other
    row = Row(
        id="B6",
        scenario=f"inbound webhooks, all duplicates, {label}",
        bar=f">= {DUPLICATE_BAR:,.0f} duplicates/s; processed once",
        verdict=verdict(ok),
        measurement=measured,
        note=f"one event id {dup_id}: {receipts.accepted} accepted, {receipts.duplicates:,} duplicate"
        f" ({duplicate_rate:,.0f}/s)" + (f", other {dict(receipts.other)}" if receipts.other else ""),
        extra={**common, "receipts": receipts.to_dict(), "duplicates_per_s": round(duplicate_rate, 1)},
    )
    _apply_check(row, check, drain, elsewhere, throughput=False)
    return fail_on_errors(row)
