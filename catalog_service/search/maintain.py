"""Keeps the search bitmaps and sort buckets in step with products, inside the write's transaction.

BitmapIndexer is a ProductWriter hook `(conn, changed_ids, deleted_ids)`, like listing.indexer's
SearchIndexer, and must run before it (it reads what product_search recorded, the words a product
had): SearchIndexer.reindex calls it first. For each product it applies the difference between the
sets it was in (its words, their heavy prefixes, its category, one bucket per sort key) and the sets
it is in now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, bindparam, text

from catalog_service.listing.statements import escape_like
from catalog_service.listing.text import index_words, vocab_word
from catalog_service.search import bitmaps, buckets
from catalog_service.search.bitmaps import KIND_CATEGORY, KIND_PREFIX, KIND_WORD, SetKey


class BitmapIndexer:
    def __call__(self, conn: Connection, changed: Sequence[int], deleted: Sequence[int]) -> None:
        self.reindex(conn, changed, deleted)

    def reindex(self, conn: Connection, changed: Iterable[int], deleted: Iterable[int] = ()) -> None:
        gone = set(deleted)
        ids = sorted(set(changed) | gone)
        if not ids:
            return
        buckets.lock_shared(conn)  # before reading any prefix or bucket bound (see _new_heavy_prefixes)
        old_words, old_category = _recorded(conn, ids)
        current = _products(conn, sorted(set(ids) - gone))
        new_words = {
            i: {vocab_word(w) for w in index_words(r.name, r.description)} for i, r in current.items()
        }
        vocabulary = {w for ws in (*old_words.values(), *new_words.values()) for w in ws}
        word_ids = _word_ids(conn, vocabulary)
        prefixes = _heavy_prefixes(conn, vocabulary)
        categories = _category_ids(conn, {*old_category.values(), *(r.category for r in current.values())})

        def sets(words: set[str], category: str | None) -> set[SetKey]:
            found = {(KIND_WORD, word_ids[w]) for w in words}
            found |= {
                (KIND_PREFIX, prefixes[w[:n]])
                for w in words
                for n in range(3, len(w) + 1)
                if w[:n] in prefixes
            }
            if category is not None:
                found.add((KIND_CATEGORY, categories[category]))
            return found

        adds: dict[SetKey, set[int]] = {}
        removes: dict[SetKey, set[int]] = {}
        for product_id in ids:
            before = sets(old_words.get(product_id, set()), old_category.get(product_id))
            row = current.get(product_id)
            after = sets(new_words[product_id], row.category) if row is not None else set()
            for key in after - before:
                adds.setdefault(key, set()).add(product_id)
            for key in before - after:
                removes.setdefault(key, set()).add(product_id)
        bitmaps.apply_changes(conn, adds, removes)
        _place(conn, ids, current)


def _recorded(conn: Connection, ids: list[int]) -> tuple[dict[int, set[str]], dict[int, str]]:
    rows = conn.execute(
        text(
            "SELECT product_id, category, search_text FROM product_search WHERE product_id IN :ids FOR UPDATE"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ).fetchall()
    words = {int(r.product_id): {vocab_word(w) for w in r.search_text.split()} for r in rows}
    return words, {int(r.product_id): r.category for r in rows}


def _products(conn: Connection, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT id, name, description, category, price, created_at FROM products WHERE id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ).fetchall()
    return {int(r.id): r for r in rows}


def _word_ids(conn: Connection, words: set[str]) -> dict[str, int]:
    """Ids of the words; a word new to the vocabulary is added (as SearchIndexer would) and may make
    some of its prefixes heavy."""
    if not words:
        return {}
    select = text("SELECT id, word FROM search_words WHERE word IN :w").bindparams(
        bindparam("w", expanding=True)
    )
    found = {r.word: int(r.id) for r in conn.execute(select, {"w": sorted(words)})}
    missing = sorted(words - set(found))
    if missing:
        conn.execute(
            text("INSERT IGNORE INTO search_words (word, df, has_postings) VALUES (:w, 0, 1)"),
            [{"w": w} for w in missing],
        )
        found.update({r.word: int(r.id) for r in conn.execute(select, {"w": missing})})
        _new_heavy_prefixes(conn, missing)
    return found


def _new_heavy_prefixes(conn: Connection, new_words: list[str]) -> None:
    """A prefix that now starts more than PREFIX_MAX_WORDS words gets its bitmap: the union of its
    words' (which hold every product but the ones this write changes; their prefix bits follow
    from the difference the caller applies).

    Under every sort's lock taken exclusively: writers hold them shared from the start of their
    reindex, so once it is granted every other writer has committed (the words' bitmaps are
    complete) and none can have read the prefixes without this one; a writer waiting for a row
    this one holds makes a deadlock, which the write path retries.
    """
    candidates = sorted({w[:n] for w in new_words for n in range(3, len(w) + 1)})
    if not candidates or not _missing_heavy(conn, candidates):
        return
    buckets.lock_exclusive(conn)
    for prefix, word_ids in _missing_heavy(conn, candidates):
        prefix_id = conn.execute(
            text("INSERT INTO search_prefixes (prefix) VALUES (:p)"), {"p": prefix}
        ).lastrowid
        union = BitMap.union(BitMap(), *bitmaps.read_sets(conn, [(KIND_WORD, i) for i in word_ids]).values())
        rows = bitmaps.rows_of(KIND_PREFIX, int(prefix_id), union)
        if rows:
            conn.execute(text(bitmaps.INSERT_ROWS), rows)


def _missing_heavy(conn: Connection, candidates: list[str]) -> list[tuple[str, list[int]]]:
    """The candidates that start more than PREFIX_MAX_WORDS words and have no bitmap yet."""
    existing = {
        r.prefix
        for r in conn.execute(
            text("SELECT prefix FROM search_prefixes WHERE prefix IN :p").bindparams(
                bindparam("p", expanding=True)
            ),
            {"p": candidates},
        )
    }
    found = []
    for prefix in candidates:
        if prefix in existing:
            continue
        word_ids = [
            int(r.id)
            for r in conn.execute(
                text("SELECT id FROM search_words WHERE word LIKE :p"), {"p": escape_like(prefix) + "%"}
            )
        ]
        if len(word_ids) > bitmaps.PREFIX_MAX_WORDS:
            found.append((prefix, word_ids))
    return found


def _heavy_prefixes(conn: Connection, words: set[str]) -> dict[str, int]:
    candidates = sorted({w[:n] for w in words for n in range(3, len(w) + 1)})
    if not candidates:
        return {}
    rows = conn.execute(
        text("SELECT id, prefix FROM search_prefixes WHERE prefix IN :p").bindparams(
            bindparam("p", expanding=True)
        ),
        {"p": candidates},
    )
    return {r.prefix: int(r.id) for r in rows}


def _category_ids(conn: Connection, names: set[str]) -> dict[str, int]:
    """The set of each category string (one set per category as the filter compares it)."""
    if not names:
        return {}
    conn.execute(
        text("INSERT IGNORE INTO search_categories (category) VALUES (:c)"), [{"c": c} for c in sorted(names)]
    )
    return {
        name: int(
            conn.execute(
                text("SELECT id FROM search_categories WHERE category = :c"), {"c": name}
            ).scalar_one()
        )
        for name in names
    }


def _place(conn: Connection, ids: list[int], current: dict[int, Any]) -> None:
    """Moves each product to the bucket of its current keys (or out of its buckets when deleted)."""
    buckets.lock_shared(conn)
    old = {
        int(r.product_id): r
        for r in conn.execute(
            text(
                "SELECT product_id, b_created, b_price, b_name FROM search_product_buckets"
                " WHERE product_id IN :ids FOR UPDATE"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        )
    }
    new = _buckets_of(conn, current)
    # The products' rows first: a split below moves members, their rows included.
    gone = [i for i in ids if i not in current and i in old]
    if gone:
        conn.execute(
            text("DELETE FROM search_product_buckets WHERE product_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": gone},
        )
    if new:
        conn.execute(
            text(
                "INSERT INTO search_product_buckets (product_id, b_created, b_price, b_name)"
                " VALUES (:p, :c, :pr, :n) ON DUPLICATE KEY UPDATE b_created = VALUES(b_created),"
                " b_price = VALUES(b_price), b_name = VALUES(b_name)"
            ),
            [{"p": i, "c": b["created_at"], "pr": b["price"], "n": b["name"]} for i, b in new.items()],
        )
    for sort in buckets.SORT_CODE:
        column = buckets.PRODUCT_BUCKET_COLUMN[sort]
        adds: dict[int, set[int]] = {}
        removes: dict[int, set[int]] = {}
        for product_id in ids:
            before = getattr(old[product_id], column) if product_id in old else None
            after = new.get(product_id, {}).get(sort)
            if before == after:
                continue
            if before is not None:
                removes.setdefault(int(before), set()).add(product_id)
            if after is not None:
                adds.setdefault(after, set()).add(product_id)
        full = buckets.change_members(conn, adds, removes)
        buckets.split_full(conn, sort, full)


def _buckets_of(conn: Connection, current: dict[int, Any]) -> dict[int, dict[str, int]]:
    """The bucket of every product for every sort key, 50 products per statement."""
    found: dict[int, dict[str, int]] = {}
    items = sorted(current.items())
    for start in range(0, len(items), 50):
        parts, params = [], {}
        for n, (product_id, row) in enumerate(items[start : start + 50]):
            for sort in buckets.SORT_CODE:
                column = buckets.LO_COLUMN[sort]
                name = f"v{n}_{buckets.SORT_CODE[sort]}"
                cond, p = buckets.position_condition(
                    column, "lo_id", "<=", name, getattr(row, sort), product_id
                )
                parts.append(
                    f"(SELECT {product_id} AS pid, {buckets.SORT_CODE[sort]} AS s, id FROM search_buckets"
                    f" FORCE INDEX ({buckets.BUCKET_INDEX[sort]}) WHERE sort_key = {buckets.SORT_CODE[sort]}"
                    f" AND {cond} ORDER BY {column} DESC, lo_id DESC LIMIT 1)"
                )
                params.update(p)
        for r in conn.execute(text(f"SELECT * FROM ({' UNION ALL '.join(parts)}) u"), params):
            sort = next(s for s, c in buckets.SORT_CODE.items() if c == int(r.s))
            found.setdefault(int(r.pid), {})[sort] = int(r.id)
    return found
