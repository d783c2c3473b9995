"""Write-path cost of the search bitmaps: products written by SQL and indexed by SearchIndexer in
one transaction, with BitmapIndexer and with it switched off (medians of 5, ms).

    .venv/bin/python scripts/search_write_cost.py --url mysql+mysqldb://...   (a seeded catalog)

It writes to that catalog: new products (external ids w-...), prices +1 and a word appended to
descriptions of random products. Use a throwaway database.
"""

import argparse
import datetime as dt
import random
import statistics
import time
from decimal import Decimal

from sqlalchemy import bindparam, create_engine, text

from catalog_service.listing.indexer import SearchIndexer
from catalog_service.search import maintain

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--url", required=True)
engine = create_engine(parser.parse_args().url, isolation_level="READ COMMITTED")
rng = random.Random(5)
RUN = int(time.time())  # external ids unique across runs
with engine.connect() as conn:
    words = [r[0] for r in conn.execute(text("SELECT word FROM search_words"))]


def noop(self, conn, changed, deleted=()):
    return None


real = maintain.BitmapIndexer.reindex


def batch(kind, n, with_bitmaps, tag):
    maintain.BitmapIndexer.reindex = real if with_bitmaps else noop
    t = time.perf_counter()
    with engine.begin() as conn:
        if kind == "insert":
            rows = [
                {
                    "e": f"w-{RUN}-{tag}-{i}",
                    "n": "Organic " + rng.choice(words).title(),
                    "d": " ".join(rng.choice(words) for _ in range(20)),
                    "c": rng.choice(["Fruits", "Dairy", "Vegetables"]),
                    "p": Decimal(rng.randrange(100, 100000)) / 100,
                    "t": dt.datetime(2026, 1, 2) + dt.timedelta(seconds=rng.randrange(10**6)),
                }
                for i in range(n)
            ]
            conn.execute(
                text(
                    "INSERT INTO products (external_id, name, description, category, price, stock, created_at, updated_at) VALUES (:e,:n,:d,:c,:p,1,:t,:t)"
                ),
                rows,
            )
            ids = [
                r[0]
                for r in conn.execute(
                    text("SELECT id FROM products WHERE external_id IN :e").bindparams(
                        bindparam("e", expanding=True)
                    ),
                    {"e": [r["e"] for r in rows]},
                )
            ]
        else:
            ids = [rng.randrange(1, 1000000) for _ in range(n)]
            if kind == "price":
                conn.execute(
                    text("UPDATE products SET price = price + 1 WHERE id IN :i").bindparams(
                        bindparam("i", expanding=True)
                    ),
                    {"i": ids},
                )
            else:
                conn.execute(
                    text(
                        "UPDATE products SET description = CONCAT(description, ' ', :w) WHERE id IN :i"
                    ).bindparams(bindparam("i", expanding=True)),
                    {"i": ids, "w": rng.choice(words)},
                )
        SearchIndexer().reindex(conn, ids)
    return (time.perf_counter() - t) * 1000


for kind, n in (("insert", 100), ("insert", 1), ("price", 1), ("price", 100), ("words", 1), ("words", 100)):
    for wb in (False, True):
        ts = [batch(kind, n, wb, f"{kind}{n}{wb}{k}") for k in range(5)]
        print(kind, n, "with bitmaps" if wb else "without", f"median ms {statistics.median(ts):.1f}")
