"""B8's setup (the Node reference, the uncached edge, the FULLTEXT index) and its report rows: the page
check, and each ours/reference pair as one row with the ratio and the bar of issue 14."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import reference_node, rest_pages, service_metrics
from bench.harness.accounting import Accounted, requests_served
from bench.harness.edges import start_uncached_edge
from bench.harness.figures import FAIL, NOT_APPLICABLE, SKIPPED, Row, fail_on_errors, ratio, verdict
from bench.harness.report import number
from bench.harness.scenarios.context import Context
from devstack.processes import root_url

SCENARIO = "Node reference"
SEARCH_MODE = "InnoDB FULLTEXT (name, description) in boolean mode, '+term*' per term"


@dataclass(frozen=True)
class PeerSetup:
    cached_url: str
    uncached_url: str
    ours_uncached_url: str
    node: str
    fulltext_build_s: float | None

    def describe(self) -> dict[str, Any]:
        return {
            "reference_cached": self.cached_url,
            "reference_uncached": self.uncached_url,
            "ours_uncached_edge": self.ours_uncached_url,
            "node": self.node,
            "packages": "bench/reference_node/package-lock.json",
            "search": SEARCH_MODE,
            "fulltext_build_s": None if self.fulltext_build_s is None else round(self.fulltext_build_s, 1),
        }


def setup_peer(ctx: Context) -> PeerSetup:
    stack = ctx.stack
    assert stack is not None
    modules = reference_node.ensure_installed(ctx.say)
    cached = reference_node.start_reference(stack, "reference-node", True, modules)
    uncached = reference_node.start_reference(stack, "reference-node-uncached", False, modules)
    ours_uncached = start_uncached_edge(stack)
    built = reference_node.ensure_fulltext(root_url(stack.datadir), ctx.say)
    if built is not None:
        ctx.say(f"B8: FULLTEXT index built in {built:.1f} s")
    return PeerSetup(cached, uncached, ours_uncached, reference_node.node_version(), built)


def skipped_rows(reason: str) -> list[Row]:
    return [Row(id="B8", scenario=f"{SCENARIO}: every pair", bar="-", verdict=SKIPPED, note=reason)]


def check_row(
    ctx: Context, setup: PeerSetup, first: Sequence[dict[str, str]], search: Sequence[dict[str, str]]
) -> Row:
    """Pages of a few queries on both sides, cached and uncached, first and deep, and a search."""
    deep = ctx.durations.b2_walk_depth + 1
    queries = [
        ("first page, no filter, created_at desc", first[1], 1),
        ("first page, category, price asc", first[8], 1),
        ("first page, price range, name asc", first[16], 1),
        (f"page {deep}, no filter, created_at desc", first[1], deep),
        (f"page {deep}, category, name desc", first[11], deep),
    ]
    if search:
        queries += [
            ("search rare, created_at desc", search[1], 1),
            ("search rare, category, name asc", search[10], 1),
        ]
    checks = rest_pages.check_pages(setup.ours_uncached_url, setup.uncached_url, queries)
    checks += rest_pages.check_pages(ctx.target.rest_url, setup.cached_url, queries[:1])
    bad = [c for c in checks if c.problem]
    described = "; ".join(f"{c.name}: {c.problem or f'equal ({c.products} products)'}" for c in checks)
    return Row(
        id="B8",
        scenario=f"{SCENARIO}: its pages equal ours",
        bar="every page equal",
        verdict=verdict(not bad),
        note=f"{len(checks) - len(bad)}/{len(checks)} equal (uncached pairs, then one cached pair): "
        + described
        + f"; reference search: {SEARCH_MODE}"
        + (f" (index built in {setup.fulltext_build_s:.1f} s)" if setup.fulltext_build_s is not None else ""),
        extra={"checks": [c.__dict__ for c in checks]},
    )


def pair_row(
    title: str,
    done: list[Accounted],
    metric: str,
    ratio_bar: float | None = None,
    absolute_ms: float | None = None,
) -> Row:
    """ours/reference of `metric` (rps: higher is better; p95/p99: lower). ratio_bar: ours/reference
    must reach it (rps) or stay within it (latency); absolute_ms: a latency bar on ours alone."""
    ours, ref = done
    mine, theirs = ours.measurement.figures, ref.measurement.figures
    if metric == "rps":
        value = ratio(mine.rps, theirs.rps)
        bar = f"RPS >= {ratio_bar:g} x reference"
        ok = value is not None and ratio_bar is not None and value >= ratio_bar
        reference_text = f"{number(theirs.rps, 0)} req/s"
        state = verdict(ok)
    else:
        mine_ms, theirs_ms = getattr(mine, f"{metric}_ms"), getattr(theirs, f"{metric}_ms")
        value = ratio(mine_ms, theirs_ms)
        reference_text = f"{metric} {number(theirs_ms, 2)} ms"
        if absolute_ms is not None:
            bar = f"{metric} <= {absolute_ms:g} ms"
            state = verdict(mine_ms is not None and mine_ms <= absolute_ms)
        elif ratio_bar is not None:
            bar = f"{metric} <= reference's"
            state = verdict(value is not None and value <= ratio_bar)
        else:
            bar, state = "reported (ratio)", NOT_APPLICABLE
    row = Row(
        id="B8",
        scenario=f"{SCENARIO}: {title}",
        bar=bar,
        verdict=state,
        measurement=ours.measurement,
        reference=ref.measurement,
        reference_text=reference_text,
        ratio=value,
        note="ratio ours/reference",
    )
    cached = "uncached" not in title and "search" not in title
    for side in (ours, ref):
        if side.counters_text:
            row.note += f"; {side.counters_text}"
        if side.cache_hits is None or side.cache_misses is None:
            continue
        problem = service_metrics.cache_claim_problem(
            cached, side.cache_hits, side.cache_misses, requests_served(side.measurement)
        )
        if problem:
            row.verdict = FAIL
            row.note += f"; {problem}"
    row.extra["calls_per_worker"] = ours.calls_per_worker
    return fail_on_errors(row)
