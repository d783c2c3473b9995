"""`python -m bench`: runs the benchmarks of docs/benchmarks.md and writes bench/results/<UTC stamp>.json/.md.

By default it starts its own stack on free ports (MariaDB, Redis, the services, Envoy), seeds it and
stops it afterwards. `--target` (or BENCH_* variables) points it at an existing deployment instead;
see docs/benchmarks-howto.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.harness import terms
from bench.harness.runner import ALL_SCENARIOS, ROOT, Options, run
from bench.harness.target import TargetError, parse_target

FULL_PRODUCTS = 1_000_000
QUICK_PRODUCTS = 50_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", help=f"comma-separated scenario ids (default: all of {','.join(ALL_SCENARIOS)})"
    )
    parser.add_argument(
        "--target",
        help="existing deployment: 'dev' (make up's ports), a REST base URL, or "
        "rest=URL,grpc=HOST:PORT[,uncached=HOST:PORT][,reference=URL][,webhook=HOST:PORT][,auth=HOST:PORT] "
        "(env: BENCH_REST_URL, BENCH_CATALOG_GRPC, BENCH_UNCACHED_GRPC, BENCH_REFERENCE_URL, ...)",
    )
    parser.add_argument(
        "--products",
        type=int,
        help=f"products to seed in the own stack (default {FULL_PRODUCTS:,}; {QUICK_PRODUCTS:,} with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs on a small catalog: a smoke test")
    parser.add_argument("--price-range", default="100-300", help="MIN-MAX of the price-range filter")
    parser.add_argument(
        "--search-terms",
        default=os.environ.get("BENCH_SEARCH_TERMS", ""),
        help="common=TERM,medium=TERM,rare=TERM (default: chosen from the seeded index)",
    )
    parser.add_argument("--workers", type=int, default=2, help="catalog worker processes in the own stack")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the own stack's database files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(args_list)
    only = tuple(s.strip().upper() for s in (args.only or ",".join(ALL_SCENARIOS)).split(",") if s.strip())
    unknown = [s for s in only if s not in ALL_SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]}: choose from {','.join(ALL_SCENARIOS)}")
    try:
        target = parse_target(args.target, os.environ)
        search_terms = terms.parse_terms(args.search_terms)
    except (TargetError, ValueError) as error:
        parser.error(str(error))
    low, sep, high = args.price_range.partition("-")
    if not sep:
        parser.error("--price-range must be MIN-MAX, e.g. 100-300")
    options = Options(
        only=only,
        target=target,
        products=args.products or (QUICK_PRODUCTS if args.quick else FULL_PRODUCTS),
        quick=args.quick,
        results_dir=args.results_dir,
        price_range=(low.strip(), high.strip()),
        search_terms=search_terms,
        catalog_workers=target.catalog_workers if target else args.workers,
        keep=args.keep,
        argv=args_list,
    )
    return run(options, say=lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    sys.exit(main())
