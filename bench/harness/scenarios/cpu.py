"""B9: CPU milliseconds per request of every process on the path, from the runs B1, B2 and B8 accounted,
and each process's CPU while idle."""

from __future__ import annotations

import time

from bench.harness.accounting import CpuRecord, idle_usage
from bench.harness.figures import NOT_APPLICABLE, SKIPPED, Row, ratio, verdict
from bench.harness.proc_cpu import CpuUsage, group_of
from bench.harness.scenarios.context import Context

CACHED_BAR_MS = 1.0
UNCACHED_BAR_MS = 3.5
IDLE_BAR_SHARE = 0.01  # of one core, for each of our service processes
QUIET_BEFORE_IDLE_S = 3.0
# Our processes that must idle quietly (the catalog instances, webhook, auth and the edges).
SERVICE_GROUPS = ("catalog", "catalog-uncached", "webhook", "auth", "edge", "edge-uncached")


def bar_for(record: CpuRecord) -> float | None:
    if record.side != "ours":
        return None
    return UNCACHED_BAR_MS if "uncached" in record.scenario else CACHED_BAR_MS


def breakdown(record: CpuRecord) -> str:
    parts = [f"{label} {ms:.3f}" for label, ms in record.per_request_ms().items() if ms >= 0.0005]
    loadgen = record.loadgen_ms()
    text = ", ".join(parts) or "no CPU on the path"
    if loadgen is not None:
        text += f" (load generator {loadgen:.3f}, not counted)"
    return text


def record_row(record: CpuRecord, reference: CpuRecord | None) -> Row:
    total = record.total_ms()
    bar_ms = bar_for(record)
    row = Row(
        id="B9",
        scenario=f"CPU per request, {record.scenario}: {total:.2f} ms",
        bar=f"<= {bar_ms:g} ms in all" if bar_ms is not None else "reported",
        verdict=verdict(total <= bar_ms) if bar_ms is not None else NOT_APPLICABLE,
        note=f"{record.requests:,} requests; ms per request: {breakdown(record)}",
        extra={"cpu": record.to_dict(), "total_ms": total, "bar_ms": bar_ms},
    )
    if record.calls_per_worker:
        counts = ", ".join(
            f"worker {i + 1}: {'?' if n is None else f'{n:,}'}" for i, n in enumerate(record.calls_per_worker)
        )
        row.note += f"; ListProducts calls per catalog worker: {counts}"
    if reference is not None:
        ref_total = reference.total_ms()
        row.reference_text = f"{reference.side} {ref_total:.2f} ms"
        row.ratio = ratio(total, ref_total)
        row.note += f"; {reference.side}: {breakdown(reference)}"
        row.extra["reference_cpu"] = reference.to_dict()
    return row


def idle_row(usage: CpuUsage | None) -> Row:
    if usage is None:
        return Row(
            id="B9",
            scenario="idle CPU per process",
            bar=f"< {IDLE_BAR_SHARE:.0%} of a core each",
            verdict=SKIPPED,
            note="needs the own stack (its process ids)",
        )
    shares = {label: usage.cores_busy(label) for label in sorted(usage.seconds)}
    ours = {label: s for label, s in shares.items() if group_of(label) in SERVICE_GROUPS}
    busy = [label for label, s in ours.items() if s >= IDLE_BAR_SHARE]
    worst = max(ours.values(), default=0.0)
    return Row(
        id="B9",
        scenario=f"idle CPU per process ({usage.wall_s:.0f} s, no traffic): worst service {worst:.2%}",
        bar=f"< {IDLE_BAR_SHARE:.0%} of a core per service process",
        verdict=verdict(not busy),
        note="% of a core: "
        + ", ".join(f"{label} {s:.2%}" for label, s in shares.items())
        + (f"; over the bar: {', '.join(busy)}" if busy else ""),
        extra={"idle_share_of_core": {k: round(v, 5) for k, v in shares.items()}, "wall_s": usage.wall_s},
    )


def run_b9(ctx: Context) -> list[Row]:
    ctx.say(f"B9: idle CPU of every process over {ctx.durations.idle:g} s")
    time.sleep(QUIET_BEFORE_IDLE_S)  # what the last run left in flight finishes first
    rows = [idle_row(idle_usage(ctx, ctx.durations.idle))]
    records: list[CpuRecord] = ctx.cpu_records
    if not records:
        note = "no accounted runs: run B1, B2 or B8 with it, on the own stack"
        rows.append(Row(id="B9", scenario="CPU per request", bar="-", verdict=SKIPPED, note=note))
        return rows
    for record in records:
        if record.side != "ours" or not record.headline:
            continue
        reference = next((r for r in records if r.scenario == record.scenario and r.side != "ours"), None)
        rows.append(record_row(record, reference))
    rows[0].extra["all_runs"] = [r.to_dict() for r in records]
    return rows
