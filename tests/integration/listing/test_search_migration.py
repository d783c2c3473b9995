"""Migration 0005 on a catalog that already has products builds the bitmaps and buckets, so the
search plan is exact from the first request after the upgrade."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import create_engine, text

from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.text import index_words, search_text, vocab_word
from catalog_service.search import plan
from catalog_service.search.bitmaps import Reads
from catalog_service.transport.requests import parse_list_request
from farmlokal_common.migrations import upgrade
from tests.integration.listing.conftest import MIGRATIONS, schema_url
from tests.integration.listing.listing_data import brute_force, snapshot
from tests.integration.listing.test_search_bitmap_plan import check_buckets

WORDS = ("source", "around", "fresh", "farm", "mango", "organic", "apple", "crème")


def test_the_upgrade_builds_the_search_structures_of_existing_products(mariadb) -> None:
    admin = create_engine(mariadb.root_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS search_migration_tests"))
        conn.execute(text("CREATE DATABASE search_migration_tests CHARACTER SET utf8mb4"))
    admin.dispose()
    url = schema_url(mariadb.root_url, "search_migration_tests")
    upgrade(MIGRATIONS, url, "0004")
    engine = create_engine(url)
    rng = random.Random(4)
    with engine.begin() as conn:  # what the seeder or the 0004-era write path left
        vocabulary: dict[str, int] = {}
        for i in range(1, 121):
            name = f"{rng.choice(('Organic', 'Apple', 'Mango'))} box"
            category = rng.choice(("Fruits", "Dairy"))
            description = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            when = dt.datetime(2025, 1, 1) + dt.timedelta(hours=rng.randrange(20))
            conn.execute(
                text(
                    "INSERT INTO products (id, external_id, name, description, category, price, stock,"
                    " created_at, updated_at) VALUES (:i, :e, :n, :d, :c, :p, 1, :t, :t)"
                ),
                {"i": i, "e": f"m-{i}", "n": name, "d": description, "c": category,
                 "p": Decimal(rng.choice(("1.00", "2.50", "9.99"))), "t": when},
            )  # fmt: skip
            words = index_words(name, description)
            conn.execute(
                text("INSERT INTO product_search (product_id, category, search_text) VALUES (:i, :c, :s)"),
                {"i": i, "c": category, "s": search_text(words)},
            )
            for word in words:
                vocabulary[vocab_word(word)] = vocabulary.get(vocab_word(word), 0) + 1
        conn.execute(
            text("INSERT INTO search_words (word, df, has_postings) VALUES (:w, :d, 0)"),
            [{"w": w, "d": d} for w, d in sorted(vocabulary.items())],
        )
    upgrade(MIGRATIONS, url)
    rows = snapshot(engine)
    codec = CursorCodec(b"migration")
    with engine.connect() as conn:
        check_buckets(conn)
        for q in ("source around", "fre", "organic", "creme farm", "app"):
            for sort in ("created_at", "price", "name"):
                query = parse_list_request(pb.ListProductsRequest(q=q, sort=sort, limit="50"), codec)
                reads = Reads()
                got = plan.search(conn, query, 51, reads)
                assert got is not None and [int(r[0]) for r in got] == brute_force(rows, query)[:51], (
                    q,
                    sort,
                )
    engine.dispose()
