"""B5: times `python -m catalog_service.seed --reset` into an empty schema of a private MariaDB.

    .venv/bin/python -m bench.seed_timing [--products 1000000] [--buffer-pool 2G] [--keep]

Starts its own MariaDB on a free port in a temporary directory (never a fixed port), creates and
migrates the catalog schema, runs the seeder as a subprocess (every index and search structure is
built when it returns), checks the catalog is queryable, and prints the wall time beside the load
average (the machines are shared and noisy: read the time with it). Writes
bench/results/<UTC stamp>-seed.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from devstack import dbinit, processes
from farmlokal_common.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
BAR_SECONDS = 120


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--buffer-pool", default="2G")
    parser.add_argument("--keep", action="store_true", help="keep the server and data directory running")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="farmlokal-seed-bench-"))
    port = processes.free_port()
    server = processes.start_mariadb(
        workdir / "data",
        port,
        workdir / "mariadb.log",
        processes.MariaDBOptions(buffer_pool=args.buffer_pool),
    )
    try:
        root = processes.root_url(workdir / "data")
        dbinit.init_databases(root, dbinit.dev_service_databases())
        catalog = next(d for d in dbinit.dev_service_databases() if d.schema == "catalog")
        url = dbinit.service_url(root, catalog, "127.0.0.1", port)
        upgrade(ROOT / "catalog_service" / "migrations", url)
        env = {**os.environ, "CATALOG_DATABASE_URL": url, "CATALOG_REDIS_URL": "redis://127.0.0.1:1/0"}
        load_before = os.getloadavg()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "catalog_service.seed", "--reset", "--products", str(args.products),
             "--seed", str(args.seed)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds = time.monotonic() - started
        engine = create_engine(url)
        with engine.connect() as conn:
            count = conn.execute(text("SELECT SUM(product_count) FROM category_counts")).scalar_one()
            conn.execute(text("SELECT id FROM products ORDER BY price DESC, id DESC LIMIT 20")).fetchall()
        engine.dispose()
        report = {
            "products": args.products,
            "seconds": round(seconds, 1),
            "bar_seconds": BAR_SECONDS,
            "verdict": "pass" if seconds <= BAR_SECONDS else "fail",
            "counted": int(count),
            "seeder": done.stdout.strip(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(report, indent=1))
        args.results_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        (args.results_dir / f"{stamp}-seed.json").write_text(json.dumps(report, indent=1))
        return 0
    finally:
        if args.keep:
            print(f"kept: MariaDB pid {server.pid} on port {port}, data in {workdir}")
        else:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
