"""`make loadtest` (python -m bench.loadtest): the ghz scenarios in tests/load/ghz and the REST mix in tests/load/rest against a stack.

    python -m bench.loadtest                       # the `make up` stack (--target dev)
    python -m bench.loadtest --target rest=http://edge:8080,grpc=catalog:15051,auth=auth:15053
    python -m bench.loadtest --own-stack           # start one on free ports (bench's), seed, stop after

Every scenario file runs with its own call, data, rate (open loop) or concurrency (saturation), for
--duration seconds, against the service its call belongs to; ghz opens at least 2 connections per
catalog worker (SO_REUSEPORT balances connections, not requests), and with --catalog-metrics the
summary shows how many ListProducts calls each worker served. The REST mix goes through Envoy with
vegeta (fixed rate) and wrk (32 connections). Prints a table; exits 1 when a run failed or had errors.
A load test is a report: latency figures never fail it (the bars are `make bench`'s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.harness.catalog_probe import CatalogProbe
from bench.harness.figures import Figures, Measurement
from bench.harness.loadgen import GHZ_SCENARIOS, GhzRun, LoadRunError, run_ghz, run_vegeta, run_wrk
from bench.harness.stack import OwnStack
from bench.harness.target import Target, TargetError, parse_target
from bench.harness.tools import Toolbox, ToolError, ensure_tools

ROOT = Path(__file__).resolve().parents[1]
REST_PATHS = ROOT / "tests" / "load" / "rest" / "storefront.paths"
DEEP_PAGE = 200  # list_deep_page.json: the cursor of this page, found by walking before the run
SERVICE_OF_CALL = {"catalog": "catalog_grpc", "auth": "auth_grpc", "webhook": "webhook_grpc"}


@dataclass
class Result:
    name: str
    target: str
    measurement: Measurement | None = None
    problem: str = ""

    def __post_init__(self) -> None:
        # One table cell: the first line of the message, without the column separator.
        self.problem = (self.problem.strip().splitlines() or [""])[0].replace("|", "/")[:200]

    def failed(self) -> bool:
        return bool(self.problem) or (self.measurement is not None and self.measurement.figures.errors > 0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = ROOT / ".run" / "loadtest" / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"loadtest {stamp}: work files in {workdir}")
    try:
        tools = ensure_tools(say)
    except ToolError as error:
        say(f"loadtest: {error}")
        return 2
    stack = OwnStack(workdir / "stack", args.workers, say) if args.own_stack else None
    try:
        if stack is not None:
            stack.start_infra()
            stack.seed(args.products)
            target = stack.start_services()
        else:
            try:
                parsed = parse_target(args.target, os.environ) or parse_target("dev", {})
            except TargetError as error:
                say(f"loadtest: {error}")
                return 2
            assert parsed is not None
            target = parsed
        if not reachable(target.rest_url):
            say(
                f"loadtest: nothing answers GET {target.rest_url}/health/live; start the stack (make up) or give --target"
            )
            return 2
        if args.catalog_metrics is None and stack is None and args.target in (None, "dev"):
            args.catalog_metrics = "127.0.0.1:9101"  # make up's catalog metrics port (worker 0)
        before = worker_calls(args.catalog_metrics, args.workers)
        results = [*run_ghz_scenarios(tools, target, args, workdir), *run_rest(tools, target, args, workdir)]
        after = worker_calls(args.catalog_metrics, args.workers)
    finally:
        if stack is not None:
            stack.stop()
    table = render(results, before, after)
    print(table)
    (workdir / "summary.md").write_text(table + "\n")
    (workdir / "summary.json").write_text(json.dumps([_to_dict(r) for r in results], indent=2))
    failed = [r.name for r in results if r.failed()]
    if failed:
        say(f"loadtest: errors or failed runs in {', '.join(failed)} (details in {workdir})")
    return 1 if failed else 0


def run_ghz_scenarios(
    tools: Toolbox, target: Target, args: argparse.Namespace, workdir: Path
) -> list[Result]:
    results = []
    for path in sorted(GHZ_SCENARIOS.glob("*.json")):
        name = path.stem
        if args.only and name not in args.only:
            continue
        scenario = json.loads(path.read_text())
        service = scenario["call"].split(".")[1]  # farmlokal.<service>.v1.Service.Method
        address = getattr(target, SERVICE_OF_CALL.get(service, ""), None)
        if not address:
            results.append(Result(name, "-", problem=f"no address for the {service} service in the target"))
            continue
        try:
            data = scenario_data(scenario, address, name)
            connections = max(int(scenario.get("connections", 1)), 2 * args.workers)
            run = GhzRun(
                name=name,
                scenario=name,
                host=address,
                data=data,
                duration_s=args.duration,
                concurrency=int(scenario.get("concurrency", 50)),
                connections=connections,
                rps=scenario.get("rps"),
                skip_first=int(scenario.get("skipFirst", 0)),
                total=scenario.get("total"),
            )
            say(f"{name}: ghz {run.load}, {connections} connections, {address}")
            results.append(Result(name, address, run_ghz(tools, run, workdir)))
        except (LoadRunError, LookupError, OSError, ValueError) as error:
            results.append(Result(name, address, problem=str(error)))
        except grpc.RpcError as error:  # while walking for deep-page cursors
            results.append(Result(name, address, problem=f"{error.code().name}: {error.details()}"))
    return results


def scenario_data(scenario: dict[str, Any], address: str, name: str) -> list[dict[str, Any]]:
    """The scenario's messages; a deep-page scenario gets real cursors by walking the catalog first."""
    data = scenario.get("data", {})
    messages = [data] if isinstance(data, dict) else list(data)
    if not any("cursor" in m for m in messages):
        return messages
    with CatalogProbe(address) as probe:
        walks = [probe.walk({k: v for k, v in m.items() if k != "cursor"}, DEEP_PAGE) for m in messages]
    ready = [walk.page_request() for walk in walks if walk.cursor]
    if not ready:
        raise LookupError(f"{name}: the catalog has too few products for page {DEEP_PAGE}")
    return ready


def run_rest(tools: Toolbox, target: Target, args: argparse.Namespace, workdir: Path) -> list[Result]:
    if args.only and "rest" not in args.only:
        return []
    paths = [line.strip() for line in REST_PATHS.read_text().splitlines() if line.strip()]
    results = []
    for name, run in (
        (
            f"rest_storefront_{args.rest_rate}rps",
            lambda: run_vegeta(
                tools, target.rest_url, paths, "rest-vegeta", workdir, args.rest_rate, args.duration
            ),
        ),
        (
            "rest_storefront_saturation",
            lambda: run_wrk(tools, target.rest_url, paths, "rest-wrk", workdir, args.duration),
        ),
    ):
        say(f"{name}: through {target.rest_url}")
        try:
            results.append(Result(name, target.rest_url, run()))
        except LoadRunError as error:
            results.append(Result(name, target.rest_url, problem=str(error)))
    return results


def reachable(rest_url: str) -> bool:
    try:
        return httpx.get(f"{rest_url}/health/live", timeout=3, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def worker_calls(metrics: str | None, workers: int) -> dict[int, float | None] | None:
    """ListProducts calls each catalog worker has served (metrics port + worker index); None for a port
    that does not answer as a catalog worker, or None overall without --catalog-metrics."""
    if not metrics:
        return None
    host, _, port = metrics.rpartition(":")
    pattern = re.compile(
        r"farmlokal_rpc_duration_seconds_count\{[^}]*"
        r'method="/farmlokal\.catalog\.v1\.CatalogService/ListProducts"[^}]*\} (\S+)'
    )
    counts: dict[int, float | None] = {}
    for index in range(workers):
        try:
            text = httpx.get(f"http://{host}:{int(port) + index}/metrics", timeout=3, trust_env=False).text
        except httpx.HTTPError:
            text = ""
        # Another service's metrics on that port (e.g. make up's webhook on 9201) are not a worker's.
        counts[index] = sum(float(v) for v in pattern.findall(text)) if 'pool="catalog"' in text else None
    return counts


def render(
    results: list[Result], before: dict[int, float | None] | None, after: dict[int, float | None] | None
) -> str:
    lines = [
        "| scenario | target | tool | load | requests | rps | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        if result.measurement is None:
            lines.append(
                f"| {result.name} | {result.target} | - | - | - | - | - | - | - | - | {result.problem} |"
            )
            continue
        m, f = result.measurement, result.measurement.figures
        lines.append(
            f"| {result.name} | {result.target} | {m.tool} | {m.load} | {f.requests} | {f.rps:.0f} | "
            f"{_ms(f.p50_ms)} | {_ms(f.p95_ms)} | {_ms(f.p99_ms)} | {_ms(f.max_ms)} | {_errors(f)} |"
        )
    if before is not None and after is not None:
        served = {i: None if now is None else now - (before.get(i) or 0) for i, now in after.items()}
        listed = ", ".join(
            f"worker {i}: {'no metrics' if n is None else f'{n:.0f}'}" for i, n in sorted(served.items())
        )
        lines += ["", f"ListProducts calls served per catalog worker during the run: {listed}"]
        if any(not n for n in served.values()):
            lines.append(
                "A worker served nothing or has no catalog metrics on its port: it may not be running "
                "(a worker that cannot bind its metrics port, CATALOG_METRICS_PORT + its index, exits and "
                "says why in the catalog log)."
            )
    if any(_rate_limited(r) for r in results):
        lines.append(
            "429 / RESOURCE_EXHAUSTED: the target's rate limits are below the scenario's rate; run the "
            "target with CATALOG_RATE_LIMITS='*=1000000/1' (and AUTH_/WEBHOOK_) for a load test."
        )
    return "\n".join(lines)


def _rate_limited(result: Result) -> bool:
    if result.measurement is None:
        return False
    kinds = " ".join(result.measurement.figures.error_kinds)
    return "ResourceExhausted" in kinds or "429" in kinds


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _errors(figures: Figures) -> str:
    if not figures.errors:
        return "0"
    kinds = ", ".join(f"{kind}: {count}" for kind, count in list(figures.error_kinds.items())[:3])
    return f"{figures.errors} ({kinds})" if kinds else str(figures.errors)


def _to_dict(result: Result) -> dict[str, Any]:
    return {
        "name": result.name,
        "target": result.target,
        "problem": result.problem,
        "measurement": result.measurement.to_dict() if result.measurement else None,
    }


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--target",
        help="'dev' (default: make up's ports), a REST URL, or rest=URL,grpc=HOST:PORT[,webhook=HOST:PORT]"
        "[,auth=HOST:PORT] (env BENCH_REST_URL, BENCH_CATALOG_GRPC, BENCH_WEBHOOK_GRPC, BENCH_AUTH_GRPC)",
    )
    where.add_argument(
        "--own-stack", action="store_true", help="start a stack on free ports, seed it, stop it after"
    )
    parser.add_argument("--products", type=int, default=50_000, help="products to seed with --own-stack")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("CATALOG_WORKERS", "2")),
        help="catalog processes sharing the port (CATALOG_WORKERS of the target; default 2)",
    )
    parser.add_argument(
        "--catalog-metrics",
        default=None,
        help="HOST:PORT of catalog worker 0's metrics (workers use PORT+index); default 127.0.0.1:9101 "
        "for the make up stack",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument(
        "--rest-rate", type=int, default=200, help="vegeta's fixed rate through Envoy (req/s)"
    )
    parser.add_argument(
        "--only",
        type=lambda s: {p.strip() for p in s.split(",") if p.strip()},
        help="scenario names (file stems) and/or 'rest'",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
