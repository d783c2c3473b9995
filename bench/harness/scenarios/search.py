"""B3: search per frequency class, alone and with a category, every sort, at a fixed 50 req/s."""

from __future__ import annotations

from bench.harness.catalog_probe import CatalogProbe
from bench.harness.figures import ERROR, SKIPPED, Row, fail_on_errors, verdict
from bench.harness.loadgen import GhzRun, run_ghz
from bench.harness.scenarios.context import ORDERS, SORTS, Context, list_request
from bench.harness.scenarios.search_worst import run_b3_worst
from bench.harness.terms import CLASSES

B3_RATE = 50
B3_P95_MS, B3_P99_MS = 50.0, 100.0


def run_b3(ctx: Context) -> list[Row]:
    with CatalogProbe(ctx.target.uncached_grpc) as probe:
        category = probe.categories()[0][0]
    rows = []
    by_class = {term.frequency_class: term for term in ctx.search_terms}
    for name in CLASSES:
        term = by_class.get(name)
        if term is None:
            rows.append(
                Row(
                    id="B3",
                    scenario=f"search, {name} term",
                    bar=f"p95 <= {B3_P95_MS:g} ms, p99 <= {B3_P99_MS:g} ms",
                    verdict=SKIPPED,
                    note="no term of this class found; give one with --search-terms",
                )
            )
            continue
        data = [
            list_request(filters, sort, order, q=term.term)
            for filters in ({}, {"category": category})
            for sort in SORTS
            for order in ORDERS
        ]
        ctx.say(f"B3: {term.describe()}, ghz {B3_RATE} req/s {ctx.durations.search:g}s")
        run = GhzRun(
            f"search-{name}",
            "search",
            ctx.target.uncached_grpc,
            data,
            ctx.durations.search,
            concurrency=50,
            connections=ctx.connections,
            rps=B3_RATE,
            skip_first=B3_RATE // 2,
        )
        measured = run_ghz(ctx.tools, run, ctx.workdir / "B3")
        p95, p99 = measured.figures.p95_ms, measured.figures.p99_ms
        ok = p95 is not None and p99 is not None and p95 <= B3_P95_MS and p99 <= B3_P99_MS
        rows.append(
            fail_on_errors(
                Row(
                    id="B3",
                    scenario=f"search, {name} term",
                    bar=f"p95 <= {B3_P95_MS:g} ms, p99 <= {B3_P99_MS:g} ms",
                    verdict=verdict(ok),
                    measurement=measured,
                    note=f"{term.describe()}; alone and with category={category}, {len(data)} queries",
                    extra={"term": term.term, "matches": term.matches, "share": term.share},
                )
            )
        )
    try:
        worst = run_b3_worst(ctx)
    except Exception as error:  # the per-class rows above are kept
        ctx.say(f"B3: worst cases failed: {error}")
        bar = f"p95 <= {B3_P95_MS:g} ms, p99 <= {B3_P99_MS:g} ms"
        worst = [Row(id="B3", scenario="search worst cases", bar=bar, verdict=ERROR, note=str(error)[:300])]
    return rows + worst
