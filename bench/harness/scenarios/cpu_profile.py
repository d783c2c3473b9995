"""B9, where the CPU goes: a catalog worker profiled (py-spy) under the B8 saturation loads, after them.

The profiled runs are separate from the measured ones (sampling costs the worker a little, so their
throughput is not reported): each repeats a B8 saturation run of ours through the edge while py-spy
samples worker 1, and /proc gives the catalog workers' CPU per request over the same run. The row
says how many of those ms each layer of a call takes (bench/harness/profile.py), and the functions
sampled most.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import proc_cpu, profile
from bench.harness.accounting import requests_served
from bench.harness.figures import NOT_APPLICABLE, SKIPPED, Row
from bench.harness.loadgen import run_wrk
from bench.harness.scenarios.context import Context

PROFILED_SECONDS = 12.0


@dataclass(frozen=True)
class ProfiledPath:
    title: str  # "cached first pages"
    catalog_label: str  # the stack's label of the catalog instance behind the edge
    url: str
    paths: list[str]


def run_profiles(ctx: Context, targets: list[ProfiledPath]) -> list[Row]:
    if profile.py_spy() is None:
        note = "py-spy is not installed (uv sync installs the dev group)"
        return [Row(id="B9", scenario="where the CPU goes", bar="reported", verdict=SKIPPED, note=note)]
    return [profiled_row(ctx, target) for target in targets]


def profiled_row(ctx: Context, target: ProfiledPath) -> Row:
    assert ctx.stack is not None
    ctx.say(f"B9: profiling a catalog worker under {target.title} (py-spy, {PROFILED_SECONDS:g} s)")
    labelled = {target.catalog_label: ctx.stack.labelled[target.catalog_label].process.pid}
    pids = proc_cpu.expand(labelled, proc_cpu.all_stats())
    workers = sorted(label for label in pids if label != target.catalog_label) or [target.catalog_label]
    workdir = ctx.workdir / "B9-profile"
    workdir.mkdir(parents=True, exist_ok=True)
    raw = workdir / f"{target.catalog_label}.raw.txt"
    before = proc_cpu.snapshot(labelled)
    sampler = profile.record(pids[workers[0]], PROFILED_SECONDS, raw)
    measurement = run_wrk(
        ctx.tools, target.url, target.paths, f"profiled-{target.catalog_label}", workdir, PROFILED_SECONDS
    )
    spent = proc_cpu.difference(before, proc_cpu.snapshot(labelled))
    sampler.wait(timeout=60)
    requests = requests_served(measurement)
    found = profile.parse_raw(raw.read_text().splitlines() if raw.exists() else [])
    per_worker = requests / len(workers)  # the edge spreads calls evenly (B9's per-worker counts)
    catalog_ms = sum(spent.get(w, 0.0) for w in workers) * 1000 / requests if requests else 0.0
    gil_ms = found.samples / profile.RATE * 1000 / per_worker if per_worker else 0.0
    layers = [(layer, share, share * gil_ms) for layer, share in found.layers()]
    top = ", ".join(f"{name} {count / max(1, found.samples):.1%}" for name, count in found.top_functions[:8])
    outside = max(0.0, catalog_ms - gil_ms)
    return Row(
        id="B9",
        scenario=f"where a catalog worker's CPU goes, {target.title}: {catalog_ms:.2f} ms per request, "
        f"{gil_ms:.2f} holding the GIL (profiled run)",
        bar="reported (explains the bars above)",
        verdict=NOT_APPLICABLE,
        note=f"{found.samples:,} GIL samples of {workers[0]} at {profile.RATE} Hz, {requests:,} requests; "
        f"ms per request by layer while holding the GIL: "
        + ", ".join(f"{layer} {ms:.3f} ({share:.0%})" for layer, share, ms in layers)
        + f"; without the GIL (grpc's C core, C clients, kernel): {outside:.3f}; most sampled: {top}",
        extra={
            "samples": found.samples,
            "catalog_ms_per_request": round(catalog_ms, 4),
            "gil_ms_per_request": round(gil_ms, 4),
            "layers": [
                {"layer": layer, "share": round(share, 4), "ms": round(ms, 4)} for layer, share, ms in layers
            ],
            "top_functions": found.top_functions,
            "raw": str(raw),
        },
    )
