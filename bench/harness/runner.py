"""Runs the selected scenarios against the own stack or a target, then writes and prints the report."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.harness import machine, plots, report, terms
from bench.harness.catalog_probe import CatalogProbe
from bench.harness.edges import start_reference_edge
from bench.harness.figures import ERROR, Row
from bench.harness.scenarios.context import Context, Durations
from bench.harness.scenarios.cpu import run_b9
from bench.harness.scenarios.edge import run_b1
from bench.harness.scenarios.listing import run_b2, run_b4
from bench.harness.scenarios.peer import run_b8
from bench.harness.scenarios.replica import run_b2_replica
from bench.harness.scenarios.search import run_b3
from bench.harness.scenarios.seed import b5_row
from bench.harness.scenarios.token_broker import run_b7
from bench.harness.scenarios.webhooks import run_b6
from bench.harness.stack import DESCRIPTOR, OwnStack, SeedResult
from bench.harness.target import Target
from bench.harness.tools import ensure_tools

ROOT = Path(__file__).resolve().parents[2]
# A 1-minute load average above this many runnable tasks per core means other work shared the CPUs.
BUSY_LOAD_PER_CORE = 1.5
ALL_SCENARIOS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B2R")
SCENARIO_NAMES = {
    "B1": "cached listing through the REST edge",
    "B2": "uncached listing",
    "B3": "search per frequency class",
    "B4": "deep pages",
    "B5": "seed",
    "B6": "inbound webhooks",
    "B7": "GetAccessToken",
    "B8": "Node reference",
    "B9": "CPU per request",
    "B2R": "uncached listing on a read replica",
}


@dataclass(frozen=True)
class Options:
    only: tuple[str, ...]
    target: Target | None
    products: int
    quick: bool
    results_dir: Path
    price_range: tuple[str, str]
    search_terms: list[terms.SearchTerm]
    catalog_workers: int
    keep: bool
    argv: list[str]


def run(options: Options, say: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    load_at_start = os.getloadavg()
    run_dir = ROOT / ".run" / "bench" / stamp
    say(f"bench {stamp}: {', '.join(options.only)}; work files and logs in {run_dir}")
    tools = ensure_tools(say)
    _ensure_descriptor(say)
    durations = Durations.quick() if options.quick else Durations.full()
    holder = OwnStack(run_dir, options.catalog_workers, say)
    rows: list[Row] = []
    seed: SeedResult | None = None
    target = options.target
    search_terms = list(options.search_terms)
    try:
        if target is None:
            holder.start_infra()
            seed = holder.seed(options.products)
            say(f"B5: seeded {seed.products:,} products in {seed.seconds:.1f} s")
            target = holder.start_services()
            if not search_terms and {"B3", "B8"} & set(options.only):
                from devstack.processes import root_url

                search_terms = terms.discover_terms(root_url(holder.datadir), options.products)
        if "B1" in options.only and target.reference_url is None:
            target = target.with_reference(
                start_reference_edge(holder, target.catalog_workers, _capture_page(target, run_dir))
            )
        ctx = Context(
            target,
            tools,
            run_dir,
            durations,
            options.products if options.target is None else None,
            options.price_range,
            search_terms,
            say,
            stack=holder if options.target is None else None,
        )
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("B1", lambda: run_b1(ctx)),
            ("B2", lambda: run_b2(ctx)),
            ("B3", lambda: run_b3(ctx)),
            ("B4", lambda: run_b4(ctx)),
            ("B5", lambda: [b5_row(seed, ctx.target)]),
            ("B6", lambda: run_b6(ctx)),
            ("B7", lambda: run_b7(ctx)),
            ("B8", lambda: run_b8(ctx)),  # after B6: its FULLTEXT index rebuilds products
            ("B9", lambda: run_b9(ctx)),  # last: the CPU of the runs B1, B2 and B8 accounted
            ("B2R", lambda: run_b2_replica(ctx)),  # after all: it restarts MariaDB with a binary log
        ]
        for scenario_id, step in steps:
            if scenario_id in options.only:
                rows += _guarded(scenario_id, step, say, run_dir)
    finally:
        say("stack: stopping")
        holder.stop(keep_data=options.keep)
    elapsed = time.monotonic() - started
    document, markdown = _render(
        options, stamp, target, tools.describe(), rows, search_terms, elapsed, load_at_start
    )
    # latest.md and latest-*.png are the last full run's (README's table); a partial or quick run
    # writes its own stamped files only.
    full = set(options.only) == set(ALL_SCENARIOS) and not options.quick
    paths = report.write_report(options.results_dir, stamp, document, markdown, latest=full)
    _plot(document, options.results_dir, stamp, say, latest=full)
    print(markdown)
    say(f"bench: {elapsed:.0f} s; report in {paths['json']} and {paths.get('latest', paths['md'])}")
    return 0


def _guarded(
    scenario_id: str, step: Callable[[], list[Row]], say: Callable[[str], None], run_dir: Path
) -> list[Row]:
    """A scenario that fails becomes an error row; the others still run."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        rows = step()
    except Exception as error:
        say(f"{scenario_id}: failed: {error}")
        (run_dir / f"{scenario_id}.error.txt").write_text(traceback.format_exc())
        message = _one_line(error)
        rows = [
            Row(id=scenario_id, scenario=SCENARIO_NAMES[scenario_id], bar="-", verdict=ERROR, note=message)
        ]
    say(f"{scenario_id}: done in {time.monotonic() - started:.0f} s")
    cores = os.cpu_count() or 1
    for row in rows:
        row.extra.setdefault("loadavg_1min_before", round(load_before, 2))
        if load_before > BUSY_LOAD_PER_CORE * cores and row.measurement is not None:
            row.note = "; ".join(
                filter(
                    None, [row.note, f"box busy: load average {load_before:.1f} on {cores} cores before it"]
                )
            )
    return rows


def _plot(
    document: dict[str, Any], results_dir: Path, stamp: str, say: Callable[[str], None], latest: bool
) -> None:
    """A PNG per scenario group beside the report; a plot that fails never loses the report."""
    try:
        written = plots.render_plots(document, results_dir, stamp, latest)
    except Exception as error:
        say(f"plots: not written ({_one_line(error)})")
        return
    say(f"plots: {', '.join(p.name for p in written) or 'none (no figures)'}")


def _one_line(error: Exception) -> str:
    if isinstance(error, grpc.RpcError):
        return f"{error.code().name}: {error.details()}"  # type: ignore[attr-defined]
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def _capture_page(target: Target, run_dir: Path) -> Path | None:
    """The real first page, so the reference server sends the same bytes the catalog would."""
    try:
        with CatalogProbe(target.catalog_grpc) as probe:
            page = probe.list({"limit": "20"})
    except Exception:
        return None
    if len(page.products) < 20:
        return None
    path = run_dir / "reference-page.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(page.SerializeToString())
    return path


def _ensure_descriptor(say: Callable[[str], None]) -> None:
    if not DESCRIPTOR.exists():
        say("codegen: building stubs and the descriptor (devstack/codegen.py)")
        subprocess.run([sys.executable, str(ROOT / "devstack" / "codegen.py")], check=True, cwd=ROOT)


def _render(
    options: Options,
    stamp: str,
    target: Target | None,
    tools: dict[str, Any],
    rows: list[Row],
    search_terms: list[terms.SearchTerm],
    elapsed: float,
    load_at_start: tuple[float, float, float],
) -> tuple[dict[str, Any], str]:
    from farmlokal_edge import envoy_binary

    description = machine.describe_machine()
    versions = machine.describe_versions(envoy_binary())
    rows = sorted(rows, key=lambda row: row.id)
    own = options.target is None
    header = {
        "stamp": stamp,
        "mode": ("quick (indicative figures only)" if options.quick else "full")
        + (", own stack" if own else ", existing deployment"),
        "products": f"{options.products:,}" if own else "as deployed",
        "target": target.rest_url if target else "",
        "machine": machine.summary(description)
        + f"; load average {load_at_start[0]:.2f} when the run started (other work on the box skews figures)",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items())
        + "; "
        + ", ".join(f"{k} {v['version']}" for k, v in tools.items()),
    }
    document = {
        "stamp": stamp,
        "command": ["python", "-m", "bench", *options.argv],
        "quick": options.quick,
        "products": options.products if own else None,
        "elapsed_s": round(elapsed, 1),
        "loadavg_at_start": load_at_start,
        "target": target.describe() if target else None,
        "machine": description,
        "versions": versions,
        "tools": tools,
        "search_terms": [t.__dict__ for t in search_terms],
        "price_range": list(options.price_range),
        "rows": [row.to_dict() for row in rows],
    }
    return document, report.render_markdown(rows, header)
