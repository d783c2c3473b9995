"""B1: cached listing through the REST edge, beside the reference server behind the same Envoy config."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from bench.harness import accounting, service_metrics
from bench.harness.accounting import OURS_CACHED, PREBUILT_REFERENCE, Counters, accounted
from bench.harness.catalog_probe import CatalogProbe
from bench.harness.figures import FAIL, Measurement, Row, fail_on_errors, ratio, verdict
from bench.harness.loadgen import run_vegeta, run_wrk
from bench.harness.report import number
from bench.harness.scenarios.context import ORDERS, SORTS, Context, list_request

SATURATION_CONNECTIONS = 32
FIXED_RATE = 500
RATIO_BAR = 0.80
P99_BAR_MS = 10.0


def edge_paths(ctx: Context) -> list[str]:
    """Mixed filters: the first page of every filter x sort x order, as REST paths."""
    with CatalogProbe(ctx.target.catalog_grpc) as probe:
        category = probe.categories()[0][0]
    return [
        "/v1/products?" + urlencode(list_request(filters, sort, order))
        for _, filters in ctx.filters(category)
        for sort in SORTS
        for order in ORDERS
    ]


def warm(base_url: str, paths: list[str]) -> int:
    """Requests every path once (fills the response cache); returns how many did not answer 200."""
    failures = 0
    with httpx.Client(base_url=base_url, timeout=10.0, trust_env=False) as client:
        for path in paths:
            try:
                failures += client.get(path).status_code != 200
            except httpx.HTTPError:
                failures += 1
    return failures


def run_b1(ctx: Context) -> list[Row]:
    reference_url = ctx.target.reference_url
    assert reference_url is not None, "the runner starts a reference edge before B1"
    paths = edge_paths(ctx)
    failed = warm(ctx.target.rest_url, paths) + warm(reference_url, paths)
    if failed:
        ctx.say(f"B1: {failed} warm-up requests did not answer 200")
    workdir = ctx.workdir / "B1"
    ctx.say(
        f"B1: saturation, wrk c={SATURATION_CONNECTIONS} {ctx.durations.saturation:g}s, edge then reference"
    )
    ours = Counters(catalog_label="catalog")
    sat = accounted(
        ctx,
        "B1 cached saturation",
        "ours",
        OURS_CACHED,
        lambda: run_wrk(
            ctx.tools, ctx.target.rest_url, paths, "saturation", workdir, ctx.durations.saturation
        ),
        ours,
        headline=True,
    )
    sat_ref = accounted(
        ctx,
        "B1 cached saturation",
        "prebuilt reference",
        PREBUILT_REFERENCE,
        lambda: run_wrk(
            ctx.tools, reference_url, paths, "saturation-reference", workdir, ctx.durations.saturation
        ),
        headline=True,
    )
    # The reference goes first here and last above, so a drift in background load favours neither.
    ctx.say(f"B1: fixed rate, vegeta {FIXED_RATE} req/s {ctx.durations.fixed_rate:g}s, reference then edge")
    fixed_ref = accounted(
        ctx,
        f"B1 cached {FIXED_RATE} req/s",
        "prebuilt reference",
        PREBUILT_REFERENCE,
        lambda: run_vegeta(
            ctx.tools, reference_url, paths, "fixed-reference", workdir, FIXED_RATE, ctx.durations.fixed_rate
        ),
    )
    warm(ctx.target.rest_url, paths)  # the cache's TTL may have run out during the runs above
    fixed = accounted(
        ctx,
        f"B1 cached {FIXED_RATE} req/s",
        "ours",
        OURS_CACHED,
        lambda: run_vegeta(
            ctx.tools, ctx.target.rest_url, paths, "fixed", workdir, FIXED_RATE, ctx.durations.fixed_rate
        ),
        ours,
    )
    rows = [
        saturation_row(sat.measurement, sat_ref.measurement, len(paths)),
        fixed_rate_row(fixed.measurement, fixed_ref.measurement),
    ]
    for row, run in zip(rows, (sat, fixed), strict=True):
        add_cache_check(row, run, cached=True)
    rows[0].extra["paths"] = paths
    return rows


def add_cache_check(row: Row, run: accounting.Accounted, cached: bool) -> None:
    """The run's cache counters in the note; a run that was not what it claims fails."""
    if not run.counters_text:
        return
    row.note = "; ".join(filter(None, [row.note, run.counters_text]))
    row.extra["calls_per_worker"] = run.calls_per_worker
    if run.cache_hits is None or run.cache_misses is None:
        return
    requests = accounting.requests_served(run.measurement)
    problem = service_metrics.cache_claim_problem(cached, run.cache_hits, run.cache_misses, requests)
    if problem:
        row.verdict = FAIL
        row.note += f"; {problem}"


def saturation_row(measured: Measurement, reference: Measurement, path_count: int) -> Row:
    throughput = ratio(measured.figures.rps, reference.figures.rps)
    ok = throughput is not None and throughput >= RATIO_BAR
    return fail_on_errors(
        Row(
            id="B1",
            scenario="cached listing, REST edge, saturation",
            bar=f"RPS >= {RATIO_BAR:.0%} of reference",
            verdict=verdict(ok),
            measurement=measured,
            reference=reference,
            reference_text=f"{number(reference.figures.rps, 0)} req/s",
            ratio=throughput,
            note=f"{path_count} first-page queries in rotation (every filter x sort x order), cache warm",
        )
    )


def fixed_rate_row(measured: Measurement, reference: Measurement) -> Row:
    p99 = measured.figures.p99_ms
    ok = p99 is not None and p99 <= P99_BAR_MS
    return fail_on_errors(
        Row(
            id="B1",
            scenario="cached listing, REST edge, fixed rate",
            bar=f"p99 <= {P99_BAR_MS:g} ms",
            verdict=verdict(ok),
            measurement=measured,
            reference=reference,
            reference_text=f"p99 {number(reference.figures.p99_ms, 2)} ms",
            ratio=ratio(p99, reference.figures.p99_ms),
        )
    )
