"""B2 (uncached listing over every filter x sort x order, first and deep pages) and B4 (page 1,000 vs 1)."""

from __future__ import annotations

import functools
import statistics
import time

from bench.harness.accounting import OURS_UNCACHED_GRPC, Counters, accounted
from bench.harness.catalog_probe import CatalogProbe, Walk
from bench.harness.figures import FAIL, NOT_APPLICABLE, Row, fail_on_errors, ratio, verdict
from bench.harness.loadgen import GhzRun, run_ghz
from bench.harness.report import number
from bench.harness.scenarios.context import ORDERS, SORTS, Context, describe_request, list_request
from bench.harness.scenarios.edge import add_cache_check

B2_RATE = 200
B2_P95_MS, B2_P99_MS, B2_MIN_RPS = 10.0, 25.0, 1000.0
B4_RATE = 100
B4_RATIO_BAR = 1.5
SATURATION_CONCURRENCY = 32
PROBE_CALLS = 5


def b2_requests(ctx: Context, category: str) -> list[dict[str, str]]:
    return [
        list_request(filters, sort, order)
        for _, filters in ctx.filters(category)
        for sort in SORTS
        for order in ORDERS
    ]


def run_b2(ctx: Context) -> list[Row]:
    address = ctx.target.uncached_grpc
    depth = ctx.durations.b2_walk_depth
    with CatalogProbe(address) as probe:
        category = probe.categories()[0][0]
        first = b2_requests(ctx, category)
        ctx.say(f"B2: walking {len(first)} queries to page {depth} for deep-page cursors")
        walks = [probe.walk(request, depth) for request in first]
        deep = [walk.page_request() for walk in walks]
        slowest = _slowest_combinations(probe, first + deep)
    workdir = ctx.workdir / "B2"
    rows = []
    for label, scenario, data in (
        ("first pages", "list_first_page", first),
        (f"deep pages (page {depth})", "list_deep_page", deep),
    ):
        ctx.say(f"B2: {label}, ghz {B2_RATE} req/s {ctx.durations.fixed_rate:g}s")
        run = GhzRun(
            f"fixed-{label.split()[0]}",
            scenario,
            address,
            data,
            ctx.durations.fixed_rate,
            concurrency=50,
            connections=ctx.connections,
            rps=B2_RATE,
            skip_first=B2_RATE // 2,
        )
        done = accounted(
            ctx,
            f"B2 uncached {label} {B2_RATE} req/s",
            "ours",
            OURS_UNCACHED_GRPC,
            functools.partial(run_ghz, ctx.tools, run, workdir),
            Counters(catalog_label="catalog-uncached"),
            headline=True,
        )
        measured = done.measurement
        p95, p99 = measured.figures.p95_ms, measured.figures.p99_ms
        ok = p95 is not None and p99 is not None and p95 <= B2_P95_MS and p99 <= B2_P99_MS
        rows.append(
            fail_on_errors(
                Row(
                    id="B2",
                    scenario=f"uncached listing, {label}",
                    bar=f"p95 <= {B2_P95_MS:g} ms, p99 <= {B2_P99_MS:g} ms",
                    verdict=verdict(ok),
                    measurement=measured,
                    reference_text="-",
                    note=f"{len(data)} queries (none/category/price range x sort x order) round-robin",
                )
            )
        )
        add_cache_check(rows[-1], done, cached=False)
    rows[0].note += "; slowest alone (p50 of 5 sequential calls): " + ", ".join(
        f"{name} {ms:.1f} ms" for name, ms in slowest[:3]
    )
    rows[0].extra["per_query_p50_ms"] = dict(slowest)
    ctx.say(f"B2: saturation, ghz c={SATURATION_CONCURRENCY} {ctx.durations.saturation:g}s")
    run = GhzRun(
        "saturation",
        "list_saturation",
        address,
        first + deep,
        ctx.durations.saturation,
        concurrency=SATURATION_CONCURRENCY,
        connections=ctx.connections,
    )
    done = accounted(
        ctx,
        "B2 uncached saturation",
        "ours",
        OURS_UNCACHED_GRPC,
        functools.partial(run_ghz, ctx.tools, run, workdir),
        Counters(catalog_label="catalog-uncached"),
    )
    measured = done.measurement
    rows.append(
        fail_on_errors(
            Row(
                id="B2",
                scenario="uncached listing, saturation",
                bar=f"RPS >= {B2_MIN_RPS:,.0f}",
                verdict=verdict(measured.figures.rps >= B2_MIN_RPS),
                measurement=measured,
                note=f"first and deep pages, {ctx.connections} connections to {ctx.target.catalog_workers} workers",
            )
        )
    )
    add_cache_check(rows[-1], done, cached=False)
    if not all(walk.complete for walk in walks):
        short = [describe_request(w.request) for w in walks if not w.complete]
        rows[1].note += f"; {len(short)} queries ended before page {depth}: {', '.join(short[:3])}"
    return rows


def _slowest_combinations(probe: CatalogProbe, requests: list[dict[str, str]]) -> list[tuple[str, float]]:
    """Each query alone, a few sequential calls: which combination costs most (a diagnosis, not a bar)."""
    medians = []
    for request in requests:
        timings = []
        for _ in range(PROBE_CALLS):
            started = time.perf_counter()
            probe.list(request)
            timings.append((time.perf_counter() - started) * 1000)
        name = describe_request(request) + (" (deep)" if request.get("cursor") else "")
        medians.append((name, statistics.median(timings)))
    return sorted(medians, key=lambda item: -item[1])


def b4_queries(ctx: Context, category: str) -> list[dict[str, str]]:
    (_, none), (_, by_category), (_, by_price) = ctx.filters(category)
    return [
        list_request(none, "created_at", "desc"),
        list_request(by_category, "price", "asc"),
        list_request(by_price, "name", "asc"),
    ]


def run_b4(ctx: Context) -> list[Row]:
    address = ctx.target.uncached_grpc
    depth = ctx.durations.b4_walk_depth
    with CatalogProbe(address) as probe:
        category = probe.categories()[0][0]
        queries = b4_queries(ctx, category)
        ctx.say(f"B4: walking {len(queries)} queries to page {depth}")
        walks: list[Walk] = [probe.walk(query, depth) for query in queries]
    workdir = ctx.workdir / "B4"
    measured = {}
    for label, data in (("page-1", queries), ("deep", [w.page_request() for w in walks])):
        ctx.say(f"B4: {label}, ghz {B4_RATE} req/s {ctx.durations.deep:g}s")
        run = GhzRun(
            label,
            "list_deep_page",
            address,
            data,
            ctx.durations.deep,
            concurrency=20,
            connections=ctx.connections,
            rps=B4_RATE,
            skip_first=B4_RATE // 2,
        )
        measured[label] = run_ghz(ctx.tools, run, workdir)
    deep, first = measured["deep"], measured["page-1"]
    p50_ratio = ratio(deep.figures.p50_ms, first.figures.p50_ms)
    reached = min(w.depth for w in walks)
    row = Row(
        id="B4",
        scenario=f"deep page {reached:,} vs page 1",
        bar=f"p50 ratio <= {B4_RATIO_BAR:g}",
        verdict=verdict(p50_ratio is not None and p50_ratio <= B4_RATIO_BAR),
        measurement=deep,
        reference=first,
        reference_text=f"page 1: p50 {number(first.figures.p50_ms, 2)} ms, p99 {number(first.figures.p99_ms, 2)} ms",
        ratio=p50_ratio,
        note="queries: "
        + "; ".join(describe_request(q) for q in queries)
        + f"; p99 ratio {number(ratio(deep.figures.p99_ms, first.figures.p99_ms), 2)}",
        extra={"walk_depths": [w.depth for w in walks]},
    )
    if reached < depth:
        row.note += f"; a query ran out of pages at {reached} (fewer products than {depth} pages)"
        if reached < depth // 2:
            row.verdict = NOT_APPLICABLE if row.verdict != FAIL else FAIL
    return [fail_on_errors(row)]
