"""Times the catalog's read queries directly (no gRPC, no cache) on a seeded catalog: every listing
shape, search per frequency class, first and deep pages, with the plan each one used.

    CATALOG_DATABASE_URL=... .venv/bin/python -m bench.catalog_queries [--runs 30] [--deep 20000]

Prints a Markdown table and writes bench/results/<UTC stamp>-catalog-queries.json. Deep pages are
reached by walking with limit 100 to the given position (or the last full page before it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import Engine, create_engine, text

from catalog_service.listing import planner, statements
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import ProductReader
from catalog_service.listing.statistics import Statistics
from catalog_service.settings import CatalogSettings
from catalog_service.transport.requests import parse_list_request

ROOT = Path(__file__).resolve().parent.parent
CODEC = CursorCodec(b"bench-catalog-queries")
SORTS = ("created_at", "price", "name")
ORDERS = ("desc", "asc")


@dataclass
class Result:
    group: str
    shape: str
    page: str  # first | deep@N
    plan: str
    rows: int
    p50_ms: float
    p95_ms: float
    max_ms: float


def pick_terms(engine: Engine) -> dict[str, str]:
    """One exact word per class (no other word starts with it): common >20%, medium ~1%, rare <0.01%."""
    with engine.connect() as conn:
        total = Statistics().products_in_scope(conn, None)
        words = sorted((r.word, int(r.df)) for r in conn.execute(text("SELECT word, df FROM search_words")))
    exact = [
        (w, df)
        for i, (w, df) in enumerate(words)
        if w.isalpha() and not (i + 1 < len(words) and words[i + 1][0].startswith(w))
    ]
    targets = {"common": (0.25, 0.2, 0.6), "medium": (0.01, 0.005, 0.02), "rare": (0.00005, 0.0, 0.0001)}
    chosen = {}
    for name, (target, low, high) in targets.items():
        fits = [(w, df) for w, df in exact if low < df / total <= high]
        if fits:
            chosen[name] = min(fits, key=lambda x: (abs(x[1] / total - target), x[0]))[0]
    return chosen


def timed(reader: ProductReader, query: ListQuery, runs: int) -> tuple[list[float], int]:
    for _ in range(3):
        page = reader.list_page(query)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        page = reader.list_page(query)
        times.append((time.perf_counter() - started) * 1000)
    return times, len(page.products)


def deep_query(reader: ProductReader, params: dict[str, str], position: int) -> tuple[ListQuery, int] | None:
    cursor, reached = "", 0
    while reached + 100 < position:
        query = parse_list_request(pb.ListProductsRequest(**params, limit="100", cursor=cursor), CODEC)
        page = reader.list_page(query)
        if not page.has_more:
            break
        after = page.last_position(query.sort)
        cursor = CODEC.encode(query.binding(), after) if after else ""
        reached += 100
    if not cursor:
        return None
    return parse_list_request(pb.ListProductsRequest(**params, cursor=cursor), CODEC), reached


def plan_of(engine: Engine, query: ListQuery) -> str:
    with engine.connect() as conn:
        choice = planner.choose(query, Statistics().facts(conn, query))
    if choice.empty:
        return "empty"
    window = choice.window
    return choice.plan.value + (f"(window {window.rows} then {window.fallback.value})" if window else "")


def shapes(category: str, terms: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    filters = {
        "none": {},
        "category": {"category": category},
        "price 100-300": {"min_price": "100", "max_price": "300"},
        "category+price": {"category": category, "min_price": "100", "max_price": "300"},
        "narrow price 1000-1010": {"min_price": "1000", "max_price": "1010"},
        # 3,331 rows (0.3%): the planner's windowed scan, falling back to the range if correlated.
        "mid price 1000-1030": {"min_price": "1000", "max_price": "1030"},
        "price >= 5000": {"min_price": "5000"},
    }
    for fname, f in filters.items():
        for sort in SORTS:
            for order in ORDERS:
                out.append(("listing", f"{fname}, {sort} {order}", {**f, "sort": sort, "order": order}))
    for cls, term in terms.items():
        for fname, f in (("", {}), (f", {category}", {"category": category})):
            for sort in SORTS:
                for order in ORDERS:
                    out.append(
                        (
                            f"search {cls}",
                            f"'{term}'{fname}, {sort} {order}",
                            {**f, "q": term, "sort": sort, "order": order},
                        )
                    )
    multi = ["royal gala", "mango pickle", "kashmiri saffron", "alphonso kesar", "fresh quality trust",
             "organic mango 1kg", "oil lunch", "healthy crisp", "mango dairy"]  # fmt: skip
    for q in multi:
        for sort in SORTS:
            out.append(("search multi", f"'{q}', {sort} desc", {"q": q, "sort": sort}))
    return out


def explain(engine: Engine, params: dict[str, str]) -> list[str]:
    """The chosen plan of page 2 and MariaDB's ANALYZE (EXPLAIN with rows really read) of it."""
    first = parse_list_request(pb.ListProductsRequest(**params), CODEC)
    position = ProductReader(engine).list_page(first).last_position(first.sort)
    cursor = CODEC.encode(first.binding(), position) if position else ""
    query = parse_list_request(pb.ListProductsRequest(**params, cursor=cursor), CODEC) if cursor else first
    lines = [f"page: {'2 (keyset from page 1)' if cursor else '1 (the only page)'}"]
    with engine.connect() as conn:
        choice = planner.choose(query, Statistics().facts(conn, query))
        if choice.empty:
            return ["(a term prefixes no indexed word: empty answer without a query)"]
        plan = choice.plan
        driver = Statistics.driver(conn, choice.driving_term) if choice.driving_term else None
        statement = statements.page(query, plan, query.limit + 1, driver=driver)
        lines.append(
            f"plan: {plan.value}"
            + (
                f", window {choice.window.rows} rows then {choice.window.fallback.value}"
                if choice.window
                else ""
            )
        )
        lines.append("statement: " + statement.sql)
        # ANALYZE runs the statement: r_rows are the rows really read, unlike EXPLAIN's estimate.
        for row in conn.execute(text("ANALYZE " + statement.sql), statement.params):
            m = row._mapping
            lines.append(
                f"  {m['id']} {m['select_type']:<8} {m['table']!s:<11} {m['type']!s:<6} key={m['key']}"
                f" r_rows={m['r_rows']} {m['Extra'] or ''}"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("CATALOG_DATABASE_URL") or CatalogSettings().database_url
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deep", type=int, default=20_000, help="deep page position (page 1000 at limit 20)")
    parser.add_argument("--only", default="", help="substring filter on group/shape")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--explain", action="store_true", help="print each shape's plan and EXPLAIN instead")
    args = parser.parse_args()
    engine = create_engine(args.url, pool_size=2)
    if args.explain:
        with engine.connect() as conn:
            top = conn.execute(
                text("SELECT category FROM category_counts ORDER BY product_count DESC")
            ).scalar()
        for group, shape, params in shapes(str(top), pick_terms(engine)):
            if (args.only and args.only not in f"{group} {shape}") or not shape.endswith("desc"):
                continue
            print(f"### {group}: {shape}\n```")
            print("\n".join(explain(engine, params)))
            print("```")
        engine.dispose()
        return 0
    reader = ProductReader(engine)
    with engine.connect() as conn:
        category = conn.execute(
            text("SELECT category FROM category_counts ORDER BY product_count DESC")
        ).scalar()
    terms = pick_terms(engine)
    results: list[Result] = []
    print(
        "| group | shape | page | plan | rows | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|---|---|---|"
    )
    for group, shape, params in shapes(str(category), terms):
        if args.only and args.only not in f"{group} {shape}":
            continue
        first = parse_list_request(pb.ListProductsRequest(**params), CODEC)
        pages: list[tuple[str, ListQuery]] = [("first", first)]
        deep = deep_query(reader, params, args.deep) if group != "search multi" else None
        if deep:
            pages.append((f"deep@{deep[1]}", deep[0]))
        for label, query in pages:
            times, rows = timed(reader, query, args.runs)
            q = statistics.quantiles(times, n=20)
            result = Result(
                group, shape, label, plan_of(engine, query), rows, statistics.median(times), q[18], max(times)
            )
            results.append(result)
            print(
                f"| {group} | {shape} | {label} | {result.plan} | {rows} | {result.p50_ms:.2f} |"
                f" {result.p95_ms:.2f} | {result.max_ms:.2f} |",
                flush=True,
            )
    engine.dispose()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results_dir / f"{stamp}-catalog-queries.json"
    out.write_text(
        json.dumps(
            {"terms": terms, "load": os.getloadavg(), "results": [asdict(r) for r in results]}, indent=1
        )
    )
    print(f"\nterms: {terms}; load average {os.getloadavg()}; saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
