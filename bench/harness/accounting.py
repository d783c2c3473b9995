"""Runs one load run with its accounting: CPU of every stack process (B9) and the cache counters of
the side measured (our workers' metrics or the Node reference's /_stats), before and after."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.harness import proc_cpu, service_metrics
from bench.harness.figures import Measurement

if TYPE_CHECKING:
    from bench.harness.scenarios.context import Context

# Process groups on each path (B9's total counts these; the load generator is reported apart).
OURS_CACHED = ("edge", "catalog", "redis", "mariadb")
OURS_UNCACHED_GRPC = ("catalog-uncached", "redis", "mariadb")
OURS_UNCACHED_REST = ("edge-uncached", "catalog-uncached", "redis", "mariadb")
PREBUILT_REFERENCE = ("reference-edge", "reference")
NODE_CACHED = ("reference-node", "redis", "mariadb")
NODE_UNCACHED = ("reference-node-uncached", "redis", "mariadb")


@dataclass
class CpuRecord:
    """The CPU one measured run cost, per process on its path."""

    scenario: str
    side: str  # "ours", "Node reference", "prebuilt reference"
    on_path: tuple[str, ...]
    requests: int
    usage: proc_cpu.CpuUsage
    headline: bool = False  # B9 gives it a row of its own (all records are in the JSON)
    calls_per_worker: list[int | None] = field(default_factory=list)

    def per_request_ms(self) -> dict[str, float]:
        return self.usage.per_request_ms(self.requests, self.on_path)

    def total_ms(self) -> float:
        return proc_cpu.total_ms(self.per_request_ms())

    def loadgen_ms(self) -> float | None:
        if self.usage.loadgen_s is None or self.requests <= 0:
            return None
        return round(self.usage.loadgen_s * 1000 / self.requests, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "side": self.side,
            "on_path": list(self.on_path),
            "requests": self.requests,
            "wall_s": round(self.usage.wall_s, 3),
            "cpu_ms_per_request": self.per_request_ms(),
            "total_ms_per_request": self.total_ms(),
            "loadgen_ms_per_request": self.loadgen_ms(),
            "cpu_s": {k: round(v, 4) for k, v in sorted(self.usage.seconds.items())},
            "calls_per_worker": self.calls_per_worker,
        }


@dataclass(frozen=True)
class Counters:
    """Where the cache counters of a run are read: a catalog instance's workers or a Node /_stats."""

    catalog_label: str | None = None
    reference_url: str | None = None


@dataclass(frozen=True)
class Accounted:
    measurement: Measurement
    cache_hits: int | None
    cache_misses: int | None
    counters_text: str  # for the row's note
    calls_per_worker: list[int | None]


def requests_served(measurement: Measurement) -> int:
    """Every request the target served during the run, including those ghz skipped from its figures."""
    skipped = int((measurement.config or {}).get("skipFirst", 0)) if measurement.tool == "ghz" else 0
    return measurement.figures.requests + skipped


def _read(ctx: Context, counters: Counters) -> Any:
    if ctx.stack is None:
        return None
    if counters.catalog_label is not None:
        port = ctx.stack.metrics.get(counters.catalog_label)
        return service_metrics.read_workers(port, ctx.target.catalog_workers) if port else None
    if counters.reference_url is not None:
        return service_metrics.read_reference_stats(counters.reference_url)
    return None


def _delta(counters: Counters, before: Any, after: Any) -> tuple[int | None, int | None, str, list]:
    if before is None or after is None:
        return None, None, "", []
    if counters.catalog_label is not None:
        delta = service_metrics.worker_delta(before, after)
        return delta.hits, delta.misses, f"ours: {delta.describe()}", delta.calls_per_worker
    stats = service_metrics.reference_delta(before, after)
    text = (
        f"reference: {stats.get('cache_hits', 0):,} cache hits, {stats.get('cache_misses', 0):,} misses,"
        f" {stats.get('db_queries', 0):,} SQL queries, {stats.get('errors', 0)} errors"
    )
    return stats.get("cache_hits", 0), stats.get("cache_misses", 0), text, []


def accounted(
    ctx: Context,
    scenario: str,
    side: str,
    on_path: tuple[str, ...],
    run: Callable[[], Measurement],
    counters: Counters = Counters(),
    headline: bool = False,
) -> Accounted:
    """Runs `run` between two CPU snapshots and two counter readings; records the CPU in ctx."""
    labelled = {label: p.pid for label, p in ctx.stack.labelled.items()} if ctx.stack else {}
    counters_before = _read(ctx, counters)
    cpu_before = proc_cpu.snapshot(labelled) if labelled else {}
    started = time.monotonic()
    measurement = run()
    wall = time.monotonic() - started
    cpu_after = proc_cpu.snapshot(labelled) if labelled else {}
    hits, misses, text, calls = _delta(counters, counters_before, _read(ctx, counters))
    if labelled:
        usage = proc_cpu.CpuUsage(proc_cpu.difference(cpu_before, cpu_after), wall, measurement.loadgen_cpu_s)
        record = CpuRecord(scenario, side, on_path, requests_served(measurement), usage, headline, calls)
        ctx.cpu_records.append(record)
    return Accounted(measurement, hits, misses, text, calls)


def idle_usage(ctx: Context, seconds: float) -> proc_cpu.CpuUsage | None:
    """CPU of every stack process over `seconds` with no traffic."""
    if ctx.stack is None:
        return None
    labelled = {label: p.pid for label, p in ctx.stack.labelled.items()}
    before = proc_cpu.snapshot(labelled)
    started = time.monotonic()
    time.sleep(seconds)
    after = proc_cpu.snapshot(labelled)
    return proc_cpu.CpuUsage(proc_cpu.difference(before, after), time.monotonic() - started, None)
