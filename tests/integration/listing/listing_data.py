"""Test datasets for the listing: rows with heavy ties, loaded through the search indexer, and a brute force."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, text

from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.query import ListQuery
from catalog_service.listing.text import index_words, matches

NAMES = (
    "Apple", "apple", "APPLE", "Äpple", "Banana split", "banana Split", "Cherry", "Çherry",
    "Date 1kg", "date 1KG", "Zucchini", "éclair", "Eclair", "Mango", "mango", "Royal Gala Apple",
)  # fmt: skip
WORDS = (
    "mango", "mangoes", "mandarin", "royal", "gala", "fresh", "organic", "honey", "honeydew",
    "crème", "brûlée", "123", "1234", "ab", "x", "farm", "farmer", "farmers", "Ratnagiri", "ÇA",
)  # fmt: skip
CATEGORIES = ("Fruits", "Vegetables", "Dairy")
PRICES = tuple(Decimal(p) for p in ("1.00", "2.50", "2.50", "2.50", "10.00", "99.99"))
TIMES = (
    dt.datetime(2025, 1, 1, 12, 0, 0),
    dt.datetime(2025, 1, 1, 12, 0, 0, 500),
    dt.datetime(2025, 6, 1),
)


def heavy_ties(rng: random.Random, n: int, prefix: str = "t") -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        description = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        rows.append(
            {
                "external_id": f"{prefix}-{i}",
                "name": rng.choice(NAMES),
                "description": description + ".",
                "category": rng.choice(CATEGORIES),
                "price": rng.choice(PRICES),
                "stock": rng.randint(0, 5),
                "created_at": rng.choice(TIMES),
                "updated_at": TIMES[-1],
            }
        )
    return rows


def insert(engine: Engine, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts products and indexes them in the same transaction, as the write path's hook does."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (external_id, name, description, category, price, stock, created_at,"
                " updated_at) VALUES (:external_id, :name, :description, :category, :price, :stock,"
                " :created_at, :updated_at)"
            ),
            rows,
        )
        ids = [
            int(r.id)
            for r in conn.execute(
                text("SELECT id FROM products WHERE external_id IN :e").bindparams(
                    bindparam("e", expanding=True)
                ),
                {"e": [r["external_id"] for r in rows]},
            )
        ]
        SearchIndexer().reindex(conn, ids)
    return sorted(ids)


def delete(engine: Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        SearchIndexer().reindex(conn, [], ids)
        conn.execute(
            text("DELETE FROM products WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        )


def demote(engine: Engine, words: list[str]) -> None:
    """Marks words as common (no postings), as the seeder does for the most frequent words."""
    with engine.begin() as conn:
        for word in words:
            conn.execute(
                text(
                    "DELETE sp FROM search_postings sp JOIN search_words w ON w.id = sp.word_id WHERE w.word = :w"
                ),
                {"w": word},
            )
            conn.execute(text("UPDATE search_words SET has_postings = 0 WHERE word = :w"), {"w": word})


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    category: str
    price: Decimal
    created_at: dt.datetime
    name_weight: bytes  # the column collation's sort key, from WEIGHT_STRING
    words: frozenset[str]


def snapshot(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, name, description, category, price, created_at, WEIGHT_STRING(name) AS w FROM products"
            )
        ).fetchall()
    return [
        Row(
            int(r.id),
            r.name,
            r.category,
            r.price,
            r.created_at,
            bytes(r.w),
            frozenset(index_words(r.name, r.description)),
        )
        for r in rows
    ]


def brute_force(rows: list[Row], query: ListQuery) -> list[int]:
    """The whole answer of a query (ignoring limit and cursor), filtered and sorted in Python."""
    kept = [
        r
        for r in rows
        if (query.category is None or r.category.casefold() == query.category.casefold())
        and (query.min_price is None or r.price >= query.min_price)
        and (query.max_price is None or r.price <= query.max_price)
        and matches(query.terms, set(r.words))
    ]
    key = {
        "created_at": lambda r: (r.created_at, r.id),
        "price": lambda r: (r.price, r.id),
        "name": lambda r: (r.name_weight, r.id),
    }[query.sort]
    return [r.id for r in sorted(kept, key=key, reverse=query.order == "desc")]
