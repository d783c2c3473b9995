"""B2R: B2's uncached listing with the reads on a MariaDB GTID replica, beside the same runs on the
primary, measured back to back in this scenario (issue 17).

The harness's MariaDB runs without a binary log, so this scenario (registered last) restarts it with
one, seeds a replica from a copy of its data directory (devstack/replication.py, as `make up` does),
and starts a third catalog instance, uncached, whose reads go to the replica
(CATALOG_DATABASE_READ_URL). Both instances then get the same first-page, deep-page and saturation
runs; a replica row's reference is the primary's figure from the same scenario and its ratio is the
p95 (the RPS for saturation) replica/primary. The note says how many reads the replica served.
"""

from __future__ import annotations

import re

import httpx

from bench.harness.catalog_probe import CatalogProbe
from bench.harness.figures import NOT_APPLICABLE, Measurement, Row, fail_on_errors, ratio, verdict
from bench.harness.loadgen import GhzRun, run_ghz
from bench.harness.scenarios.context import Context
from bench.harness.scenarios.listing import B2_MIN_RPS, B2_P95_MS, B2_P99_MS, B2_RATE, b2_requests
from bench.harness.stack import OwnStack, free_port_block
from devstack import dbinit, processes, replication, services
from devstack.processes import free_port

SATURATION_CONCURRENCY = 32


def run_b2_replica(ctx: Context) -> list[Row]:
    if ctx.stack is None:
        return [
            Row(
                id="B2R",
                scenario="uncached listing on a read replica",
                bar="-",
                verdict=NOT_APPLICABLE,
                note="needs the harness's own stack (it starts the replica)",
            )
        ]
    replica_address, metrics_port = _start_replica_side(ctx.stack, ctx)
    primary_address = ctx.target.uncached_grpc
    depth = ctx.durations.b2_walk_depth
    with CatalogProbe(primary_address) as probe:
        category = probe.categories()[0][0]
        first = b2_requests(ctx, category)
        deep = [probe.walk(request, depth).page_request() for request in first]
    # Both servers were just (re)started: the same walk on the replica's side warms it as the
    # primary's warmed the primary, so neither runs cold.
    with CatalogProbe(replica_address) as probe:
        for request in first:
            probe.walk(request, depth)
    workdir = ctx.workdir / "B2R"
    rows = []
    for label, scenario, data, rps in (
        ("first pages", "list_first_page", first, B2_RATE),
        (f"deep pages (page {depth})", "list_deep_page", deep, B2_RATE),
        ("saturation", "list_saturation", first + deep, None),
    ):
        measured: dict[str, Measurement] = {}
        for side, address in (("primary", primary_address), ("replica", replica_address)):
            ctx.say(f"B2R: {label} on the {side}")
            duration = ctx.durations.saturation if rps is None else ctx.durations.fixed_rate
            run = GhzRun(
                f"{side}-{label.split()[0]}",
                scenario,
                address,
                data,
                duration,
                concurrency=SATURATION_CONCURRENCY if rps is None else 50,
                connections=ctx.connections,
                rps=rps,
                skip_first=(rps or 0) // 2,
            )
            measured[side] = run_ghz(ctx.tools, run, workdir)
        rows += _rows(label, rps, measured)
    served = _replica_reads(metrics_port)
    rows[1].note += f"; reads the replica instance ran on the replica during B2R: {served}"
    return rows


def _rows(label: str, rps: int | None, measured: dict[str, Measurement]) -> list[Row]:
    primary, replica = measured["primary"], measured["replica"]
    rows = []
    for side, measurement in (("primary", primary), ("replica", replica)):
        figures = measurement.figures
        if rps is None:
            bar, ok = f"RPS >= {B2_MIN_RPS:,.0f}", figures.rps >= B2_MIN_RPS
        else:
            bar = f"p95 <= {B2_P95_MS:g} ms, p99 <= {B2_P99_MS:g} ms"
            ok = figures.p95_ms is not None and figures.p99_ms is not None
            ok = ok and figures.p95_ms <= B2_P95_MS and figures.p99_ms <= B2_P99_MS  # type: ignore[operator]
        beside = side == "replica"
        rows.append(
            fail_on_errors(
                Row(
                    id="B2R",
                    scenario=f"uncached listing, {label}, reads on the {side}",
                    bar=bar,
                    verdict=verdict(ok),
                    measurement=measurement,
                    reference=primary if beside else None,
                    reference_text="the primary's run above" if beside else "-",
                    ratio=(
                        ratio(figures.rps, primary.figures.rps)
                        if rps is None
                        else ratio(figures.p95_ms, primary.figures.p95_ms)
                    )
                    if beside
                    else None,
                    note=("ratio: RPS replica/primary" if rps is None else "ratio: p95 replica/primary")
                    if beside
                    else "",
                )
            )
        )
    return rows


def _start_replica_side(stack: OwnStack, ctx: Context) -> tuple[str, int]:
    """The primary restarted with a binary log, a replica seeded from it, and an uncached catalog
    instance reading from the replica; (its gRPC address, its first metrics port)."""
    primary = stack.labelled["mariadb"]
    port = primary.port
    options = processes.MariaDBOptions(buffer_pool="2G")
    replica_dir = stack.run_dir / "mariadb-replica"
    ctx.say("B2R: restarting MariaDB with a binary log and seeding a replica from a copy of it")
    primary.stop()
    replication.seed_datadir(stack.datadir, replica_dir)
    restarted = processes.start_mariadb(
        stack.datadir, port, stack.log("mariadb"), replication.primary_options(options)
    )
    stack.keep("mariadb", restarted)
    replication.create_replication_user(processes.root_url(stack.datadir))
    replica_port = free_port()
    replica = processes.start_mariadb(
        replica_dir, replica_port, stack.log("mariadb-replica"), replication.replica_options(options)
    )
    stack.keep("mariadb-replica", replica)
    replication.configure_replica(processes.root_url(replica_dir), "127.0.0.1", port, from_seed=True)
    replication.wait_caught_up(processes.root_url(replica_dir), processes.root_url(stack.datadir))
    catalog = stack.plans["catalog"]
    db = next(d for d in dbinit.dev_service_databases() if d.schema == "catalog")
    read_url = dbinit.service_url(processes.root_url(replica_dir), db, "127.0.0.1", replica_port)
    plan = services.ServicePlan(
        "catalog",
        free_port(),
        free_port_block(stack.catalog_workers),
        catalog.database_url,
        catalog.redis_url,
        stack.catalog_workers,
        {"CATALOG_CACHE_ENABLED": "false", "CATALOG_DATABASE_READ_URL": read_url},
    )
    stack._start_service("catalog-replica-uncached", plan)
    return plan.address, plan.metrics_port


def _replica_reads(metrics_port: int) -> str:
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError as error:
        return f"unknown ({type(error).__name__})"
    routes = dict(
        re.findall(r'farmlokal_db_reads_total\{pool="catalog_read",route="(\w+)"\} ([0-9.e+]+)', text)
    )
    return ", ".join(f"{route} {float(count):,.0f}" for route, count in sorted(routes.items())) or "none"
