"""B3's worst-case search classes (issue 15): each class's first and deep pages under every sort at
50 req/s on the uncached instance, then 10 req/s of the worst class beside B2's 200 req/s listing.

A slow class must not hang the bench: every call has a timeout, runs have fixed durations, the walks
to the deep page have a time budget, and the service is given time to settle after each run.
"""

from __future__ import annotations

import time

import grpc

from bench.harness import search_classes
from bench.harness.catalog_probe import CatalogProbe, Walk
from bench.harness.figures import NOT_APPLICABLE, SKIPPED, Measurement, Row, fail_on_errors, ratio, verdict
from bench.harness.loadgen import GhzRun, run_ghz, run_ghz_together
from bench.harness.report import number
from bench.harness.scenarios.context import ORDERS, SORTS, Context, list_request
from bench.harness.scenarios.listing import B2_RATE, b2_requests
from devstack.processes import root_url

RATE = 50
P95_MS, P99_MS = 50.0, 100.0
CALL_TIMEOUT_S = 5.0
LOAD_TEST_RATE = 10
LOAD_TEST_BAR = 1.2  # B2's p95 beside the search load / alone
SETTLE_S = 30.0  # at most this long waiting for a cheap call to be fast again after a slow run
SETTLED_MS = 50.0
SETTLED_CALLS = 5


def bar_text() -> str:
    return f"p95 <= {P95_MS:g} ms, p99 <= {P99_MS:g} ms"


def bounded_walk(probe: CatalogProbe, request: dict[str, str], depth: int, deadline: float) -> Walk:
    """CatalogProbe.walk that gives up (complete=False) when the class's time budget runs out."""
    cursor, page = "", 1
    while page < depth:
        if time.monotonic() > deadline:
            return Walk(dict(request), page, cursor, complete=False)
        answer = probe.list({**request, "cursor": cursor} if cursor else request)
        if not answer.has_more or not answer.next_cursor:
            return Walk(dict(request), page, cursor, complete=False)
        cursor, page = answer.next_cursor, page + 1
    return Walk(dict(request), page, cursor, complete=True)


def settle(address: str) -> None:
    """Until SETTLED_CALLS cheap first pages in a row answer within SETTLED_MS (statements of a slow
    run may still be running), at most SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    fast = 0
    with CatalogProbe(address) as probe:
        while time.monotonic() < deadline and fast < SETTLED_CALLS:
            started = time.perf_counter()
            try:
                probe.list({"limit": "20"})
                fast = fast + 1 if (time.perf_counter() - started) * 1000 <= SETTLED_MS else 0
            except grpc.RpcError:
                fast = 0
            time.sleep(0.2)


def _ghz(ctx: Context, name: str, data: list[dict[str, str]], rps: int, seconds: float) -> GhzRun:
    return GhzRun(
        name,
        "search",
        ctx.target.uncached_grpc,
        data,
        seconds,
        concurrency=50,
        connections=ctx.connections,
        rps=rps,
        skip_first=rps // 2,
        timeout_s=CALL_TIMEOUT_S,
    )


def class_row(cls: search_classes.SearchClass, label: str, measured: Measurement, queries: int) -> Row:
    p95, p99 = measured.figures.p95_ms, measured.figures.p99_ms
    ok = p95 is not None and p99 is not None and p95 <= P95_MS and p99 <= P99_MS
    return fail_on_errors(
        Row(
            id="B3",
            scenario=f"search worst case, {cls.name}, {label}",
            bar=bar_text(),
            verdict=verdict(ok),
            measurement=measured,
            note=f"{cls.describe()}; {queries} queries (every sort x order); call timeout {CALL_TIMEOUT_S:g} s",
            extra={"class": cls.name, "q": cls.q, "filters": cls.filters},
        )
    )


def run_b3_worst(ctx: Context) -> list[Row]:
    if ctx.stack is None or ctx.products is None:
        note = "the worst-case classes are chosen from the own stack's index"
        return [Row(id="B3", scenario="search worst cases", bar=bar_text(), verdict=SKIPPED, note=note)]
    classes = search_classes.discover_classes(root_url(ctx.stack.datadir), ctx.products, ctx.search_terms)
    address, depth = ctx.target.uncached_grpc, ctx.durations.b2_walk_depth
    workdir = ctx.workdir / "B3"
    rows: list[Row] = []
    worst: tuple[float, search_classes.SearchClass, list[dict[str, str]]] | None = None
    for index, cls in enumerate(classes):
        first = [list_request(cls.filters, sort, order, q=cls.q) for sort in SORTS for order in ORDERS]
        ctx.say(f"B3: {cls.describe()}: walking to page {depth} (at most {ctx.durations.walk_budget:g} s)")
        deadline = time.monotonic() + ctx.durations.walk_budget
        with CatalogProbe(address) as probe:
            try:
                walks = [bounded_walk(probe, request, depth, deadline) for request in first]
            except grpc.RpcError as error:
                walks = []
                ctx.say(f"B3: {cls.name}: the walk failed ({error.code().name}); no deep pages")
        deep = [w.page_request() for w in walks if w.complete]
        for label, data in (("first pages", first), (f"deep pages (page {depth})", deep)):
            if not data:
                pages = ", ".join(str(w.depth) for w in walks) or "none"
                note = f"{cls.describe()}; no query reached page {depth} (pages reached: {pages})"
                scenario = f"search worst case, {cls.name}, {label}"
                rows.append(
                    Row(id="B3", scenario=scenario, bar=bar_text(), verdict=NOT_APPLICABLE, note=note)
                )
                continue
            ctx.say(f"B3: {cls.name}, {label}, ghz {RATE} req/s {ctx.durations.search:g}s")
            name = f"worst-{index}-{label.split()[0]}"
            measured = run_ghz(ctx.tools, _ghz(ctx, name, data, RATE, ctx.durations.search), workdir)
            rows.append(class_row(cls, label, measured, len(data)))
            settle(address)
            if label == "first pages":
                p95 = measured.figures.p95_ms if not measured.figures.errors else None
                score = float("inf") if p95 is None else p95
                if worst is None or score > worst[0]:
                    worst = (score, cls, first)
    if worst is not None:
        rows.append(load_test_row(ctx, worst[1], worst[2]))
    return rows


def load_test_row(ctx: Context, cls: search_classes.SearchClass, search: list[dict[str, str]]) -> Row:
    """B2's first pages at 200 req/s alone, then beside 10 req/s of the worst class."""
    with CatalogProbe(ctx.target.uncached_grpc) as probe:
        category = probe.categories()[0][0]
    listing = b2_requests(ctx, category)
    workdir, seconds = ctx.workdir / "B3", ctx.durations.fixed_rate

    def b2_run(name: str) -> GhzRun:
        return GhzRun(
            name,
            "list_first_page",
            ctx.target.uncached_grpc,
            listing,
            seconds,
            concurrency=50,
            connections=ctx.connections,
            rps=B2_RATE,
            skip_first=B2_RATE // 2,
        )

    ctx.say(
        f"B3: load test: B2 first pages {B2_RATE} req/s alone, beside {LOAD_TEST_RATE} req/s of {cls.name}, alone"
    )
    before = run_ghz(ctx.tools, b2_run("b2-alone-before"), workdir)
    settle(ctx.target.uncached_grpc)
    beside, searched = run_ghz_together(
        ctx.tools,
        [b2_run("b2-beside-search"), _ghz(ctx, "worst-beside-b2", search, LOAD_TEST_RATE, seconds)],
        workdir,
    )
    settle(ctx.target.uncached_grpc)
    after = run_ghz(ctx.tools, b2_run("b2-alone-after"), workdir)
    baseline, alone = alone_baseline([before, after])
    value = ratio(beside.figures.p95_ms, baseline)
    row = Row(
        id="B3",
        scenario=f"B2 listing {B2_RATE} req/s beside {LOAD_TEST_RATE} req/s of the worst class ({cls.name})",
        bar=f"B2 p95 <= {LOAD_TEST_BAR:g} x alone",
        verdict=verdict(value is not None and value <= LOAD_TEST_BAR),
        measurement=beside,
        reference=alone,
        reference_text=f"alone: p95 {number(baseline, 2)} ms",
        ratio=value,
        note=f"{cls.describe()} at {LOAD_TEST_RATE} req/s meanwhile: {searched.figures.requests:,} calls, "
        f"p95 {number(searched.figures.p95_ms, 1)} ms, errors {searched.figures.error_kinds or 0}; "
        + "; ".join(
            f"alone {when}: p95 {number(m.figures.p95_ms, 2)} ms, errors {m.figures.error_kinds or 0}"
            for when, m in (("before", before), ("after", after))
        ),
        extra={"search_measurement": searched.to_dict(), "alone_after": after.to_dict()},
    )
    return fail_on_errors(row)


def alone_baseline(alone: list[Measurement]) -> tuple[float | None, Measurement]:
    """B2's p95 without the search load: the mean over the runs before and after it that had no
    errors (all of them if each had some), and the run shown as the reference."""
    clean = [m for m in alone if not m.figures.errors] or alone
    values = [m.figures.p95_ms for m in clean if m.figures.p95_ms is not None]
    return (sum(values) / len(values) if values else None), clean[0]
