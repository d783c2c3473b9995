"""Search plans measured on a seeded catalog: the bitmap/bucket plan against the listing's plans.

    .venv/bin/python -m bench.search_structures --url mysql+mysqldb://... [--runs 15] [--only CLASS]

For every class of the search issue (anti-correlated common terms, three and eight common terms,
common with rare, a 3-character prefix of many words, common with a narrow price range, a name word
sorted by name), under every sort and order, first page and page 50 (limit 20): the median and p95
of the new plan (catalog_service.search.plan) in ms, what it read (bitmap rows, bucket rows, index
entries, primary-key lookups, statements) and MariaDB's Handler_read_* total around it, beside the
listing's own plans (planner's choice) timed once per shape with a 2 s statement limit. Every page
of the new plan is compared with the listing's answer (the listing's are exact: the property tests)
and a difference is reported. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, create_engine, text

from catalog_service.domain import product_from_row
from catalog_service.listing.keyset import after_product
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import ProductReader
from catalog_service.listing.text import query_terms
from catalog_service.search import plan
from catalog_service.search.bitmaps import Reads
from catalog_service.search.buckets import SORT_CODE
from tests.integration.listing.reading import chosen

CLASSES: dict[str, dict[str, Any]] = {
    "anti-correlated": {"q": "source around"},
    "three common": {"q": "fresh quality trust"},
    "eight common": {"q": "from and fresh quality you for can trust"},
    "common + rare": {"q": "fresh amideamila"},
    "prefix of many words": {"q": "ami"},
    "common + narrow price": {"q": "grown", "min_price": "1000", "max_price": "1010"},
    "common + mid price": {"q": "fresh", "min_price": "100", "max_price": "120"},
    "common + one price": {"q": "grown", "min_price": "150", "max_price": "150"},  # make bench's B3 shape
    "name word by name": {"q": "organic", "sort_only": "name"},
    "single common": {"q": "grown"},
    "single medium": {"q": "chikki"},
    "single rare": {"q": "amideamila"},
    "two medium": {"q": "mango pickle"},
}
SORTS = [(s, o) for s in ("created_at", "price", "name") for o in ("desc", "asc")]
HANDLER = "SHOW SESSION STATUS LIKE 'Handler_read%'"


def handler_reads(conn: Connection) -> int:
    return sum(int(r[1]) for r in conn.execute(text(HANDLER)))


def build_query(spec: dict[str, Any], sort: str, order: str, limit: int = 20) -> ListQuery:
    low, high = (Decimal(spec[k]) if k in spec else None for k in ("min_price", "max_price"))
    return ListQuery(
        limit=limit, min_price=low, max_price=high, terms=query_terms(spec["q"]), sort=sort, order=order
    )


def after_page(conn: Connection, query: ListQuery, pages: int) -> ListQuery | None:
    """The query positioned after `pages` pages (walked with the new plan), or None if shorter."""
    for _ in range(pages):
        rows = plan.search(conn, query, query.limit + 1) or []
        if len(rows) <= query.limit:
            return None
        last = product_from_row(rows[query.limit - 1])
        query = dataclasses.replace(query, after=after_product(query.sort, last))
    return query


def legacy(conn: Connection, query: ListQuery) -> tuple[list[int] | None, float]:
    """The listing's own plans (the reader with the bitmap plan switched off)."""
    bitmap_plan = plan.search
    plan.search = lambda *args, **kwargs: None  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        conn.execute(text("SET SESSION max_statement_time = 2"))
        rows = chosen(conn, query, query.limit + 1)
    except Exception:  # a statement over the limit: reported as such
        return None, (time.perf_counter() - started) * 1000
    finally:
        plan.search = bitmap_plan  # type: ignore[method-assign]
        conn.execute(text("SET SESSION max_statement_time = 0"))
    return [int(r[0]) for r in rows], (time.perf_counter() - started) * 1000


def measure(conn: Connection, query: ListQuery, runs: int) -> dict[str, Any]:
    times, reads = [], Reads()
    ids: list[int] = []
    handler = 0
    for n in range(runs + 2):
        reads = Reads()
        before = handler_reads(conn)
        started = time.perf_counter()
        rows = plan.search(conn, query, query.limit + 1, reads)
        elapsed = (time.perf_counter() - started) * 1000
        handler = handler_reads(conn) - before - 1  # SHOW STATUS counts itself once
        if n >= 2:
            times.append(elapsed)
        ids = [int(r[0]) for r in rows] if rows is not None else []
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
        "reads": reads,
        "handler": handler,
        "ids": ids,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 without a pid)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, rate: float, seconds: float, only: str, db_pid: int = 0) -> int:
    """Open loop at `rate` requests/s over every class, sort and page (first and 50), through
    ProductReader.list_page (the service's read path, planner included) on 16 threads; latency from
    each request's scheduled time, so queueing counts. Prints p50/p95/p99 per class."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=16, max_overflow=0)
    reader = ProductReader(engine)
    shapes: list[tuple[str, ListQuery]] = []
    with engine.connect() as conn:
        for name, spec in CLASSES.items():
            if only and name != only and (only in CLASSES or only not in name):
                continue
            for sort, order in SORTS:
                if spec.get("sort_only") and sort != spec["sort_only"]:
                    continue
                base = build_query(spec, sort, order)
                shapes.append((name, base))
                deep = after_page(conn, base, 49)
                if deep is not None:
                    shapes.append((name, deep))
    latencies: dict[str, list[float]] = {}
    lock = threading.Lock()
    errors = 0

    def one(name: str, query: ListQuery, due: float) -> None:
        nonlocal errors
        try:
            reader.list_page(query)
        except Exception as error:  # counted and reported
            with lock:
                errors += 1
                if errors <= 3:
                    print(f"error in {name} {query}: {error!r}"[:2000], file=sys.stderr)
            return
        took = (time.perf_counter() - due) * 1000
        with lock:
            latencies.setdefault(name, []).append(took)

    total = int(rate * seconds)
    started = time.perf_counter()
    load_before = os.getloadavg()
    cpu_before = os.times().user + os.times().system, process_cpu(db_pid)
    with ThreadPoolExecutor(16) as pool:
        for n in range(total):
            due = started + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            name, query = shapes[n % len(shapes)]
            pool.submit(one, name, query, due)
    own = os.times().user + os.times().system - cpu_before[0]
    db = process_cpu(db_pid) - cpu_before[1]
    print(f"{total} requests at {rate}/s over {len(shapes)} shapes, {errors} errors;"
          f" load average {load_before} before, {os.getloadavg()} after; CPU per request:"
          f" {own * 1000 / total:.2f} ms this process (plan, driver, load generator),"
          f" {db * 1000 / total:.2f} ms MariaDB")  # fmt: skip
    print("| class | requests | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    every: list[float] = []
    for name, values in latencies.items():
        every += values
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f}"
              f" | {percentile(values, 0.99):.1f} | {max(values):.1f} |")  # fmt: skip
    print(f"| all | {len(every)} | {statistics.median(every):.1f} | {percentile(every, 0.95):.1f}"
          f" | {percentile(every, 0.99):.1f} | {max(every):.1f} |")  # fmt: skip
    engine.dispose()
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", default="")
    parser.add_argument("--no-legacy", action="store_true")
    parser.add_argument("--rate", type=float, default=0, help="open-loop load at this rate instead")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--db-pid", type=int, default=0, help="MariaDB's pid, for its CPU per request")
    args = parser.parse_args()
    if args.rate:
        return load(args.url, args.rate, args.seconds, args.only, args.db_pid)
    engine = create_engine(args.url, isolation_level="AUTOCOMMIT")
    print("| class | sort | page | new p50 | new p95 | rows | bitmap rows | bucket rows | entries | lookups"
          " | stmts | Handler_read | legacy ms | same | steps |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    mismatches = over = 0
    with engine.connect() as conn:
        products = int(conn.execute(text("SELECT COUNT(*) FROM products")).scalar_one())
        counts = {
            int(k): int(n)
            for k, n in conn.execute(text("SELECT sort_key, COUNT(*) FROM search_buckets GROUP BY sort_key"))
        }
        for name, spec in CLASSES.items():
            if args.only and name != args.only and (args.only in CLASSES or args.only not in name):
                continue
            for sort, order in SORTS:
                if spec.get("sort_only") and sort != spec["sort_only"]:
                    continue
                base = build_query(spec, sort, order)
                for page, query in (("1", base), ("50", after_page(conn, base, 49))):
                    if query is None:
                        continue
                    got = measure(conn, query, args.runs)
                    want, legacy_ms = (None, float("nan")) if args.no_legacy else legacy(conn, query)
                    same = "-" if want is None else ("yes" if want == got["ids"] else "NO")
                    mismatches += same == "NO"
                    r = got["reads"]
                    limit = plan.bound(
                        products, counts[SORT_CODE[sort]], counts[SORT_CODE["price"]], 21, len(query.terms)
                    )
                    if got["handler"] > limit:
                        over += 1
                        print(
                            f"OVER THE BOUND: {name} {sort} {order} page {page}: {got['handler']} > {limit}",
                            file=sys.stderr,
                        )
                    print(
                        f"| {name} | {sort} {order} | {page} | {got['p50']:.1f} | {got['p95']:.1f} | {len(got['ids'])}"
                        f" | {r.bitmap_rows} | {r.bucket_rows} | {r.entries} | {r.lookups} | {r.statements}"
                        f" | {got['handler']} | {'>2000' if want is None and not args.no_legacy else f'{legacy_ms:.0f}'}"
                        f" | {same} | {'; '.join(r.steps)} |"
                    )
                    sys.stdout.flush()
    engine.dispose()
    print(f"\n{mismatches} pages differ from the previous plans; {over} shapes read more than plan.bound()")
    return 1 if mismatches or over else 0


if __name__ == "__main__":
    raise SystemExit(main())
