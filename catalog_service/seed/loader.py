"""Seeds the catalog: generates chunks in worker processes while loader threads LOAD DATA them.

Pipeline (2 cores): workers write TSV chunks; three loader threads stream them into products,
product_search and search_postings, each on its own connection; when the last products chunk is in,
the products indexes are built (one ALTER) while the search tables finish loading. The secondary
indexes of products are dropped first and re-created from PRODUCT_INDEXES at the end, which is
several times faster than maintaining them row by row.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from catalog_service.search import build as search_build
from catalog_service.seed.generator import ChunkResult, Universe, build_universe, generate_chunk
from catalog_service.seed.progress import NoProgress, Phase, Progress

log = logging.getLogger(__name__)

CHUNK_SIZE = 50_000
SAMPLE_SIZE = 50_000
# Words in more than this share of products get no postings: a scan in sort order finds them fast,
# and they would be most of the postings (see docs/catalog-queries.md).
POSTINGS_MAX_SHARE = 0.05

# Must equal the secondary indexes of migration 0001 (a test checks it).
PRODUCT_INDEXES: dict[str, str] = {
    "uq_products_external_id": "UNIQUE KEY uq_products_external_id (external_id)",
    "ix_products_created": "KEY ix_products_created (created_at, id, price)",
    "ix_products_price": "KEY ix_products_price (price, id, created_at, name)",
    "ix_products_name": "KEY ix_products_name (name, id, price)",
    "ix_products_cat_created": "KEY ix_products_cat_created (category, created_at, id, price)",
    "ix_products_cat_price": "KEY ix_products_cat_price (category, price, id, created_at, name)",
    "ix_products_cat_name": "KEY ix_products_cat_name (category, name, id, price)",
}
SEARCH_TABLES = ("product_search", "search_postings", "search_words", "category_counts")

_LOAD = {
    "products": "(id, external_id, name, description, category, price, stock, created_at, updated_at)",
    "product_search": "(product_id, category, search_text)",
    "search_postings": "(word_id, product_id, category, price, created_at, name)",
}


@dataclass
class SeedReport:
    products: int = 0
    skipped: bool = False
    postings: int = 0
    words: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def loader_engine(url: str) -> Engine:
    return create_engine(url, connect_args={"local_infile": 1}, pool_size=4, max_overflow=0)


def product_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM (SELECT 1 FROM products LIMIT 1) t")).scalar_one())


def _execute(engine: Engine, *statements: str) -> None:
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def _existing_secondary_indexes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT index_name FROM information_schema.statistics"
                " WHERE table_schema = DATABASE() AND table_name = 'products' AND index_name <> 'PRIMARY'"
            )
        ).fetchall()
    return [r[0] for r in rows]


class _Loader(threading.Thread):
    """LOAD DATA LOCAL INFILE of each queued file into one table, on its own connection."""

    def __init__(self, engine: Engine, table: str, phase: Phase) -> None:
        super().__init__(name=f"load-{table}", daemon=True)
        self.files: queue.Queue[Path | None] = queue.Queue()
        self.error: BaseException | None = None
        self.rows = 0
        self._engine, self._table, self._phase = engine, table, phase

    def run(self) -> None:
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
                while (path := self.files.get()) is not None:
                    cursor.execute(
                        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {self._table} CHARACTER SET utf8mb4"
                        f" FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' {_LOAD[self._table]}"
                    )
                    self.rows += cursor.rowcount
                    raw.commit()
                    path.unlink()
                    self._phase.advance(cursor.rowcount)
            finally:
                raw.close()
        except BaseException as error:  # reported by the main thread
            self.error = error

    def finish(self) -> None:
        self.files.put(None)
        self.join()
        self._phase.done()
        if self.error is not None:
            raise self.error


def _chunks(total: int) -> list[tuple[int, int, int]]:
    return [
        (i, start + 1, min(CHUNK_SIZE, total - start)) for i, start in enumerate(range(0, total, CHUNK_SIZE))
    ]


def _run_chunk(
    universe: Universe, out_dir: Path, common: frozenset[str], spec: tuple[int, int, int]
) -> ChunkResult:
    index, first_id, count = spec
    return generate_chunk(universe, index, first_id, count, out_dir, common)


def seed(
    engine: Engine,
    products: int,
    seed_number: int,
    reset: bool,
    workers: int = 2,
    progress: Progress | None = None,
) -> SeedReport:
    """Loads `products` generated products; `progress` shows each phase while it runs."""
    progress = progress or NoProgress()
    report = SeedReport()
    started = time.monotonic()
    if product_count(engine) and not reset:
        report.skipped = True
        return report
    sampling = progress.step("sampling word frequencies")
    universe = build_universe(seed_number)
    sample_dir = Path(tempfile.mkdtemp(prefix="farmlokal-seed-sample-"))
    sample = generate_chunk(universe, 0, 1, min(SAMPLE_SIZE, products), sample_dir, None)
    for path in sample_dir.iterdir():
        path.unlink()
    sample_dir.rmdir()
    sampled = max(1, min(SAMPLE_SIZE, products))
    common = frozenset(w for w, n in sample.word_df.items() if n / sampled > POSTINGS_MAX_SHARE)
    sampling.done()

    preparing = progress.step("emptying the tables, dropping the products indexes")
    _execute(engine, *(f"TRUNCATE TABLE {t}" for t in (*SEARCH_TABLES, "products")))
    drops = [f"DROP INDEX {name}" for name in _existing_secondary_indexes(engine)]
    if drops:
        _execute(engine, f"ALTER TABLE products {', '.join(drops)}")
    preparing.done()
    report.timings["prepare"] = time.monotonic() - started

    word_df: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    generating = progress.phase("generating", products, "products")
    loaders = {
        table: _Loader(engine, table, progress.phase(f"loading {table}", _expected_rows(table, products)))
        for table in _LOAD
    }
    with tempfile.TemporaryDirectory(prefix="farmlokal-seed-") as tmp:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            for loader in loaders.values():
                loader.start()
            try:
                work = partial(_run_chunk, universe, Path(tmp), common)
                for result in _ordered(pool.imap(work, _chunks(products))):
                    loaders["products"].files.put(result.products_path)
                    loaders["product_search"].files.put(result.search_path)
                    if result.postings_path is not None:
                        loaders["search_postings"].files.put(result.postings_path)
                    word_df.update(result.word_df)
                    categories.update(result.category_counts)
                    generating.advance(sum(result.category_counts.values()))
                generating.done()
                report.timings["generated"] = time.monotonic() - started
            finally:
                loaders["products"].finish()
            report.timings["products_loaded"] = time.monotonic() - started
            # One ALTER builds every index in one pass over the table; InnoDB reports no progress
            # for it, so its line shows how long it has taken so far.
            indexing = progress.step(f"building the {len(PRODUCT_INDEXES)} products indexes")
            indexes = threading.Thread(
                target=_execute,
                args=(
                    engine,
                    "ALTER TABLE products " + ", ".join(f"ADD {d}" for d in PRODUCT_INDEXES.values()),
                ),
            )
            indexes.start()
            counts = progress.phase("loading search_words, category_counts", len(word_df) + len(categories))
            _load_words(engine, universe, word_df, common)
            _execute_params(
                engine,
                "INSERT INTO category_counts (category, product_count) VALUES (:c, :n)",
                [{"c": c, "n": n} for c, n in sorted(categories.items())],
            )
            counts.advance(len(word_df) + len(categories))
            counts.done()
            loaders["product_search"].finish()
            loaders["search_postings"].finish()
            report.timings["search_loaded"] = time.monotonic() - started
            # The search bitmaps need product_search and search_words only: built while the
            # products indexes are; the sort buckets need those indexes.
            bitmaps = progress.step("building the search bitmaps")
            with engine.begin() as conn:
                search_build.clear(conn)
                search_build.build_sets(conn)
            bitmaps.done()
            report.timings["search_bitmaps"] = time.monotonic() - started
            indexes.join()
            indexing.done()
            report.timings["indexed"] = time.monotonic() - started
            buckets = progress.step("building the search sort buckets")
            with engine.begin() as conn:
                search_build.build_buckets(conn)
            buckets.done()
            report.timings["search_buckets"] = time.monotonic() - started
    analyzing = progress.step("analyzing the tables")
    _execute(engine, "ANALYZE TABLE products, product_search, search_postings, search_words, category_counts")
    analyzing.done()
    report.products = loaders["products"].rows
    report.postings = loaders["search_postings"].rows
    report.words = len(word_df)
    report.timings["total"] = time.monotonic() - started
    return report


def _expected_rows(table: str, products: int) -> int | None:
    """Rows a table gets, where that is known before loading (search_postings: it is not)."""
    return products if table in ("products", "product_search") else None


def _ordered(results: Iterator[ChunkResult]) -> Iterator[ChunkResult]:
    yield from results  # imap keeps chunk order, so ids reach InnoDB ascending


def _execute_params(engine: Engine, statement: str, params: list[dict[str, Any]]) -> None:
    if not params:
        return
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _load_words(engine: Engine, universe: Universe, word_df: Counter[str], common: frozenset[str]) -> None:
    rows = [
        {"id": universe.word_ids[w], "word": w, "df": n, "p": 0 if w in common else 1}
        for w, n in sorted(word_df.items())
    ]
    _execute_params(
        engine, "INSERT INTO search_words (id, word, df, has_postings) VALUES (:id, :word, :df, :p)", rows
    )
