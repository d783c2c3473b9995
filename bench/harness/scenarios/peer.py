"""B8: the same listing work on the peer-style Node reference (bench/reference_node), in the same run.

Ours goes through the REST edge (cached: the deployed catalog; uncached: an edge in front of the
CATALOG_CACHE_ENABLED=false instance), the reference is hit on its Express port. Each pair of runs
alternates who goes first; cache counters on both sides say whether each run was what it claims.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from bench.harness import rest_pages
from bench.harness.accounting import (
    NODE_CACHED,
    NODE_UNCACHED,
    OURS_CACHED,
    OURS_UNCACHED_REST,
    Accounted,
    Counters,
    accounted,
)
from bench.harness.figures import Measurement, Row
from bench.harness.loadgen import run_vegeta, run_wrk
from bench.harness.scenarios.context import ORDERS, SORTS, Context, list_request
from bench.harness.scenarios.cpu_profile import ProfiledPath, run_profiles
from bench.harness.scenarios.edge import edge_paths, warm
from bench.harness.scenarios.peer_rows import check_row, pair_row, setup_peer, skipped_rows

CACHED_FIXED_RATE = 300
UNCACHED_RATES = (100, 200)
SEARCH_RATE = 50


@dataclass(frozen=True)
class Side:
    name: str  # "ours" or "reference"
    url: str
    on_path: tuple[str, ...]
    counters: Counters
    cached: bool


def run_b8(ctx: Context) -> list[Row]:
    if ctx.stack is None:
        return skipped_rows("the Node reference runs on the own stack only (it reads its MariaDB)")
    setup = setup_peer(ctx)
    first_paths = edge_paths(ctx)
    first = [dict(_params(p)) for p in first_paths]
    rare = next((t for t in ctx.search_terms if t.frequency_class == "rare"), None)
    category = first[6]["category"]  # edge_paths: none x 6, then the largest category x 6
    search = (
        [
            list_request(f, s, o, q=rare.term)
            for f in ({}, {"category": category})
            for s in SORTS
            for o in ORDERS
        ]
        if rare
        else []
    )
    rows = [check_row(ctx, setup, first, search)]
    ours_cached = Side("ours", ctx.target.rest_url, OURS_CACHED, Counters(catalog_label="catalog"), True)
    ref_cached = Side(
        "reference", setup.cached_url, NODE_CACHED, Counters(reference_url=setup.cached_url), True
    )
    ours_uncached = Side(
        "ours", setup.ours_uncached_url, OURS_UNCACHED_REST, Counters(catalog_label="catalog-uncached"), False
    )
    ref_uncached = Side(
        "reference", setup.uncached_url, NODE_UNCACHED, Counters(reference_url=setup.uncached_url), False
    )
    workdir = ctx.workdir / "B8"
    sat_s, fixed_s = ctx.durations.saturation, ctx.durations.fixed_rate
    order = iter(range(100))

    def pair(title: str, sides: tuple[Side, Side], run: Callable[[Side], Measurement]) -> list[Accounted]:
        ctx.say(f"B8: {title}")
        turn = sides if next(order) % 2 == 0 else (sides[1], sides[0])
        done = {}
        for side in turn:
            done[side.name] = accounted(
                ctx,
                f"B8 {title}",
                _side_label(side),
                side.on_path,
                functools.partial(run, side),
                side.counters,
                headline="saturation" in title,
            )
        return [done["ours"], done["reference"]]

    def wrk(name: str, paths: dict[str, list[str]]) -> Callable[[Side], Measurement]:
        return lambda s: run_wrk(ctx.tools, s.url, paths[s.name], f"{name}-{s.name}", workdir, sat_s)

    def vegeta(
        name: str, paths: dict[str, list[str]], rate: int, seconds: float
    ) -> Callable[[Side], Measurement]:
        return lambda s: run_vegeta(
            ctx.tools, s.url, paths[s.name], f"{name}-{s.name}", workdir, rate, seconds
        )

    cached_pair = (ours_cached, ref_cached)
    same = {"ours": first_paths, "reference": first_paths}
    for side in cached_pair:
        warm(side.url, first_paths)
    done = pair("cached first pages, saturation", cached_pair, wrk("cached-saturation", same))
    rows.append(pair_row("cached first pages, saturation", done, "rps", 1.0))
    for side in cached_pair:
        warm(side.url, first_paths)  # the TTL may have run out
    title = f"cached first pages, {CACHED_FIXED_RATE} req/s"
    done = pair(title, cached_pair, vegeta("cached-fixed", same, CACHED_FIXED_RATE, fixed_s))
    rows.append(pair_row(title, done, "p99", 1.0))

    uncached_pair = (ours_uncached, ref_uncached)
    depth = ctx.durations.b2_walk_depth + 1
    ctx.say(f"B8: walking {len(first)} queries to page {depth} on both sides for deep-page cursors")
    walks = {s.name: rest_pages.walk_all(s.url, first, depth) for s in uncached_pair}
    deep = {name: [w.path() for w in found] for name, found in walks.items()}
    reached = min(w.depth for found in walks.values() for w in found)
    for label, paths in (("first pages", same), (f"deep pages (page {reached})", deep)):
        title = f"uncached {label}, saturation"
        done = pair(title, uncached_pair, wrk(f"uncached-{label.split()[0]}-saturation", paths))
        rows.append(pair_row(title, done, "rps", 1.5))
        for rate in UNCACHED_RATES:
            title = f"uncached {label}, {rate} req/s"
            done = pair(
                title, uncached_pair, vegeta(f"uncached-{label.split()[0]}-{rate}", paths, rate, fixed_s)
            )
            rows.append(pair_row(title, done, "p95", absolute_ms=None if rate < 200 else 10.0))
    if rare is not None:
        search_paths = [rest_pages.path(p) for p in search]
        title = f"search, rare term '{rare.term}', {SEARCH_RATE} req/s"
        both = {"ours": search_paths, "reference": search_paths}
        done = pair(title, uncached_pair, vegeta("search-rare", both, SEARCH_RATE, ctx.durations.search))
        rows.append(pair_row(title, done, "p95", 1.0))
    for row in rows:
        row.extra.setdefault("setup", setup.describe())
    for side in cached_pair:
        warm(side.url, first_paths)
    # Last, so that sampling never shares the CPUs with a measured run.
    return rows + run_profiles(
        ctx,
        [
            ProfiledPath("cached first pages", "catalog", ctx.target.rest_url, first_paths),
            ProfiledPath("uncached first pages", "catalog-uncached", setup.ours_uncached_url, first_paths),
        ],
    )


def _side_label(side: Side) -> str:
    return "ours" if side.name == "ours" else "Node reference"


def _params(path: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(path).query)
