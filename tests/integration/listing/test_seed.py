"""The seeder: documented distribution, reproducible, every index and search table consistent, no clobbering."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from catalog_service.listing.text import index_words, search_text
from catalog_service.seed.generator import MAX_WORDS, MIN_WORDS, REFERENCE_TIME, SPAN_SECONDS
from catalog_service.seed.loader import PRODUCT_INDEXES, loader_engine, seed
from catalog_service.seed.vocabulary import CATALOG, CATEGORY_WEIGHTS
from tests.integration.listing.conftest import create_schema

ROOT = Path(__file__).resolve().parents[3]
N = 5000


@pytest.fixture(scope="module")
def seed_url(mariadb) -> str:
    return create_schema(mariadb.root_url, "listing_seed_tests")


@pytest.fixture(scope="module")
def seeded(seed_url: str) -> Iterator[Engine]:
    engine = loader_engine(seed_url)
    report = seed(engine, N, seed_number=1, reset=True, workers=2)
    assert report.products == N and not report.skipped
    yield engine
    engine.dispose()


def fingerprint(engine: Engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table, order in (
            ("products", "id"),
            ("product_search", "product_id"),
            ("search_postings", "word_id, product_id"),
            ("search_words", "id"),
            ("category_counts", "category"),
        ):
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}")):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def secondary_indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
                " AND table_name = 'products' AND index_name <> 'PRIMARY'"
            )
        )
        return {r[0] for r in rows}


def test_distribution(seeded: Engine) -> None:
    with seeded.connect() as conn:
        rows = conn.execute(text("SELECT * FROM products")).fetchall()
    assert len(rows) == N
    categories = Counter(r.category for r in rows)
    assert set(categories) == set(CATALOG) and len(categories) == 20
    total_weight = sum(CATEGORY_WEIGHTS.values())
    for category, count in categories.items():
        assert abs(count / N - CATEGORY_WEIGHTS[category] / total_weight) < 0.02, category
    prices = Counter(r.price for r in rows)
    assert len(prices) < N / 5, "prices must tie a lot"
    assert prices.most_common(1)[0][1] >= 30
    assert min(prices) > 0
    assert len({r.external_id for r in rows}) == N
    for r in rows:
        assert MIN_WORDS <= len(r.description.split()) <= MAX_WORDS
        assert 0 <= (REFERENCE_TIME - r.created_at).total_seconds() <= SPAN_SECONDS
        assert r.created_at <= r.updated_at <= REFERENCE_TIME
    created = Counter(r.created_at for r in rows)
    assert created.most_common(1)[0][1] > 1, "bulk imports share timestamps"
    assert (max(r.created_at for r in rows) - min(r.created_at for r in rows)).days > 600
    assert 0.05 < sum(1 for r in rows if r.stock == 0) / N < 0.15


def test_search_tables_and_counts_agree_with_the_products(seeded: Engine) -> None:
    with seeded.connect() as conn:
        products = {r.id: r for r in conn.execute(text("SELECT * FROM products"))}
        searches = {r.product_id: r for r in conn.execute(text("SELECT * FROM product_search"))}
        words = {r.word: r for r in conn.execute(text("SELECT * FROM search_words"))}
        postings = Counter(r.word_id for r in conn.execute(text("SELECT word_id FROM search_postings")))
        counts = dict(conn.execute(text("SELECT category, product_count FROM category_counts")).fetchall())
        sample = conn.execute(
            text(
                "SELECT sp.*, p.category AS pc, p.price AS pp, p.created_at AS pt, p.name AS pn"
                " FROM search_postings sp JOIN products p ON p.id = sp.product_id LIMIT 2000"
            )
        ).fetchall()
    df: Counter[str] = Counter()
    for product_id, p in products.items():
        found = index_words(p.name, p.description)
        assert searches[product_id].search_text == search_text(found)
        assert searches[product_id].category == p.category
        df.update(found)
    assert {w: r.df for w, r in words.items()} == dict(df)
    assert any(not r.has_postings for r in words.values()), "the most common words have no postings"
    assert {w.id: w.df for w in words.values() if w.has_postings} == dict(postings)
    assert counts == dict(Counter(p.category for p in products.values()))
    for r in sample:
        assert (r.category, r.price, r.created_at, r.name) == (r.pc, r.pp, r.pt, r.pn)


def test_indexes_are_the_migrations_and_all_present(seeded: Engine, mariadb) -> None:
    fresh = create_engine(create_schema(mariadb.root_url, "listing_index_check"))
    try:
        assert secondary_indexes(fresh) == set(PRODUCT_INDEXES)
    finally:
        fresh.dispose()
    assert secondary_indexes(seeded) == set(PRODUCT_INDEXES)


def test_reproducible_and_an_existing_catalog_is_left_alone(seeded: Engine) -> None:
    before = fingerprint(seeded)
    assert seed(seeded, N, seed_number=2, reset=False).skipped
    assert fingerprint(seeded) == before
    seed(seeded, N, seed_number=1, reset=True)
    assert fingerprint(seeded) == before, "same seed, same catalog"
    seed(seeded, 800, seed_number=2, reset=True)
    assert fingerprint(seeded) != before
    seed(seeded, N, seed_number=1, reset=True)  # leave the module's catalog as it was


def test_command_line_bumps_the_cache_generation(seed_url: str, redis_client) -> None:
    redis_client.hset("{catalog}:generation", "n", 5)
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": seed_url,
        "CATALOG_REDIS_URL": f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/0",
    }
    command = [sys.executable, "-m", "catalog_service.seed", "--products", "1200", "--seed", "9"]
    done = subprocess.run(
        [*command, "--reset"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "seeded 1200 products" in done.stdout
    assert int(redis_client.hget("{catalog}:generation", "n")) == 6
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert "left alone" in again.stdout
    assert int(redis_client.hget("{catalog}:generation", "n")) == 6


def test_command_line_ignores_an_unreachable_redis(seed_url: str) -> None:
    env = {**os.environ, "CATALOG_DATABASE_URL": seed_url, "CATALOG_REDIS_URL": "redis://127.0.0.1:1/0"}
    done = subprocess.run(
        [sys.executable, "-m", "catalog_service.seed", "--products", "300", "--reset"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "seeded 300 products" in done.stdout
