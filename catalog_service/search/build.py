"""Builds every search bitmap and sort bucket from what the catalog holds (seeder, migration, tests).

Reads product_search (the words of each product, as the SearchIndexer or the seeder wrote them),
search_words and the products' sort indexes; replaces the contents of the search_bitmaps,
search_prefixes, search_categories, search_buckets and search_product_buckets tables (TRUNCATE,
which commits). The result is what BitmapIndexer would have produced writing the products one by
one, except where the buckets are cut (a test checks the rest is equal).
"""

from __future__ import annotations

import array
import time
from collections.abc import Callable, Iterable
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.listing.statements import SORT_INDEX
from catalog_service.listing.text import vocab_word
from catalog_service.search import bitmaps, buckets
from catalog_service.search.bitmaps import KIND_CATEGORY, KIND_PREFIX, KIND_WORD

TABLES = (
    "search_bitmaps",
    "search_prefixes",
    "search_categories",
    "search_buckets",
    "search_product_buckets",
)
INSERT_BATCH_BYTES = 4 << 20


def rebuild(conn: Connection, say: Callable[[str], None] | None = None) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    clear(conn)
    build_sets(conn)
    timings["search_sets"] = time.monotonic() - started
    if say:
        say(f"search bitmaps built in {timings['search_sets']:.1f}s")
    build_buckets(conn)
    timings["search_buckets"] = time.monotonic() - started
    if say:
        say(f"search buckets built in {timings['search_buckets']:.1f}s")
    return timings


def clear(conn: Connection) -> None:
    for table in TABLES:
        conn.execute(text(f"TRUNCATE TABLE {table}"))


def build_sets(conn: Connection) -> None:
    """Word, heavy-prefix and category bitmaps from product_search."""
    members: dict[str, array.array[int]] = {}
    categories: dict[str, array.array[int]] = {}
    result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
        text("SELECT product_id, category, search_text FROM product_search")
    )
    for product_id, category, search_text in result:
        for word in search_text.split():
            found = members.get(word)
            if found is None:
                members[word] = found = array.array("I")
            found.append(product_id)
        found = categories.get(category)
        if found is None:
            categories[category] = found = array.array("I")
        found.append(product_id)
    result.close()
    word_ids = {r.word: int(r.id) for r in conn.execute(text("SELECT id, word FROM search_words"))}
    by_word: dict[str, BitMap] = {}
    for word, ids in members.items():
        vocab = vocab_word(word)
        bitmap = BitMap(ids)
        by_word[vocab] = by_word[vocab] | bitmap if vocab in by_word else bitmap
    _insert(conn, (row for w, b in by_word.items() for row in bitmaps.rows_of(KIND_WORD, word_ids[w], b)))
    heavy = bitmaps.heavy_prefixes(word_ids)
    prefix_rows: list[dict[str, Any]] = [{"i": n + 1, "p": p} for n, p in enumerate(sorted(heavy))]
    for start in range(0, len(prefix_rows), 1000):
        conn.execute(
            text("INSERT INTO search_prefixes (id, prefix) VALUES (:i, :p)"),
            prefix_rows[start : start + 1000],
        )
    empty = BitMap()
    _insert(
        conn,
        (
            row
            for r in prefix_rows
            for row in bitmaps.rows_of(
                KIND_PREFIX, r["i"], BitMap.union(empty, *(by_word[w] for w in heavy[r["p"]] if w in by_word))
            )
        ),
    )
    if categories:
        conn.execute(
            text("INSERT IGNORE INTO search_categories (category) VALUES (:c)"),
            [{"c": c} for c in sorted(categories)],
        )
    by_category: dict[int, BitMap] = {}
    for name, ids in categories.items():
        set_id = int(
            conn.execute(
                text("SELECT id FROM search_categories WHERE category = :c"), {"c": name}
            ).scalar_one()
        )
        by_category[set_id] = by_category.get(set_id, BitMap()) | BitMap(ids)
    _insert(conn, (row for i, b in by_category.items() for row in bitmaps.rows_of(KIND_CATEGORY, i, b)))


def build_buckets(conn: Connection, size: int | None = None) -> None:
    """Cuts each sort order into buckets of `size` products (BUCKET_SIZE), walking its index (ids
    only: the keys are read for the bounds alone)."""
    size = size or buckets.BUCKET_SIZE
    top = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM products")).scalar_one())
    placed: dict[str, array.array[int]] = {}
    next_id = 1
    for sort, code in buckets.SORT_CODE.items():
        column = buckets.LO_COLUMN[sort]
        index = SORT_INDEX[(False, sort)]
        rows = conn.execution_options(stream_results=True, yield_per=100_000).execute(
            text(f"SELECT id FROM products FORCE INDEX ({index}) ORDER BY {sort}, id")
        )
        order = array.array("I", (r[0] for r in rows))  # product ids below 2**32: the bitmaps are 32-bit
        rows.close()
        starts = order[size::size]
        keys = {
            int(r.id): r.k
            for start in range(0, len(starts), 1000)
            for r in conn.execute(
                text(
                    f"SELECT id, {sort} AS k FROM products WHERE id IN ({', '.join(map(str, starts[start : start + 1000]))})"
                )
            )
        }
        bounds = [(buckets.LOWEST[sort], 0)] + [(keys[i], i) for i in starts]
        assignment = array.array("I", bytes(4 * (top + 1)))
        bucket_rows = []
        for b, (lo, lo_id) in enumerate(bounds):
            chunk = order[b * size : (b + 1) * size]
            for product_id in chunk:
                assignment[product_id] = next_id + b
            bucket_rows.append(
                {
                    "i": next_id + b,
                    "s": code,
                    "lo": lo,
                    "lo_id": lo_id,
                    "m": len(chunk),
                    "b": bitmaps.encode(BitMap(chunk)),
                }
            )
        next_id += len(bounds)
        for start in range(0, len(bucket_rows), 200):
            conn.execute(
                text(
                    f"INSERT INTO search_buckets (id, sort_key, {column}, lo_id, members, bits)"
                    " VALUES (:i, :s, :lo, :lo_id, :m, :b)"
                ),
                bucket_rows[start : start + 200],
            )
        placed[sort] = assignment
    created, price, name = placed["created_at"], placed["price"], placed["name"]
    present = [i for i in range(1, top + 1) if created[i]]
    # Plain integers: one multi-row INSERT per 50,000 products, formatted here (a driver's
    # executemany formats every value through its escaping: 20 s for 1M rows, against about 1 s).
    for start in range(0, len(present), 50_000):
        values = ",".join(f"({i},{created[i]},{price[i]},{name[i]})" for i in present[start : start + 50_000])
        conn.exec_driver_sql(
            "INSERT INTO search_product_buckets (product_id, b_created, b_price, b_name) VALUES " + values
        )


def _insert(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += len(row["b"]) + 32
        if size >= INSERT_BATCH_BYTES:
            conn.execute(text(bitmaps.INSERT_ROWS), batch)
            batch, size = [], 0
    if batch:
        conn.execute(text(bitmaps.INSERT_ROWS), batch)
