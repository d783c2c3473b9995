"""Keeps the search tables and category counts in step with products, inside the write's transaction.

Register an instance as a ProductWriter hook: it is called with the changed ids (after the change)
and the deleted ids (before the delete) and applies the difference between what product_search
recorded for each product and what the product holds now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from catalog_service.listing.text import index_words, search_text, vocab_word
from catalog_service.search.maintain import BitmapIndexer


@dataclass(frozen=True)
class _Indexed:
    category: str
    words: frozenset[str]  # vocabulary words (truncated to the column width)


class SearchIndexer:
    def __call__(self, conn: Connection, changed: Sequence[int], deleted: Sequence[int]) -> None:
        self.reindex(conn, changed, deleted)

    def reindex(self, conn: Connection, changed: Iterable[int], deleted: Iterable[int] = ()) -> None:
        gone = set(deleted)
        ids = sorted(set(changed) | gone)
        if not ids:
            return
        # The search bitmaps and buckets first: they read the words product_search still records.
        BitmapIndexer().reindex(conn, ids, gone)
        before = self._indexed(conn, ids)
        current = {} if not set(ids) - gone else self._products(conn, sorted(set(ids) - gone))
        df: Counter[str] = Counter()
        categories: Counter[str] = Counter()
        after: dict[int, tuple[Any, set[str]]] = {}
        for product_id in ids:
            old = before.get(product_id)
            row = current.get(product_id)
            words = index_words(row.name, row.description) if row is not None else set()
            new_vocab = {vocab_word(w) for w in words}
            if old is not None:
                categories[old.category] -= 1
                df.subtract(old.words - new_vocab)
            if row is not None:
                categories[row.category] += 1
                df.update(new_vocab - (old.words if old else frozenset()))
                after[product_id] = (row, words)
        word_ids = self._word_ids(
            conn,
            {w for v in before.values() for w in v.words}
            | set(df)
            | {vocab_word(w) for _, words in after.values() for w in words},
        )
        self._apply_df(conn, df, word_ids)
        self._apply_categories(conn, categories)
        self._apply_postings(conn, ids, before, after, word_ids)
        self._apply_search_rows(conn, ids, after)

    @staticmethod
    def _indexed(conn: Connection, ids: list[int]) -> dict[int, _Indexed]:
        rows = conn.execute(
            text(
                "SELECT product_id, category, search_text FROM product_search"
                " WHERE product_id IN :ids FOR UPDATE"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        ).fetchall()
        return {
            int(r.product_id): _Indexed(r.category, frozenset(vocab_word(w) for w in r.search_text.split()))
            for r in rows
        }

    @staticmethod
    def _products(conn: Connection, ids: list[int]) -> dict[int, Any]:
        rows = conn.execute(
            text(
                "SELECT id, name, description, category, price, created_at FROM products WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        ).fetchall()
        return {int(r.id): r for r in rows}

    @staticmethod
    def _word_ids(conn: Connection, words: set[str]) -> dict[str, tuple[int, bool]]:
        """id and has_postings of each word; words never seen before are added with postings."""
        if not words:
            return {}
        select = text("SELECT id, word, has_postings FROM search_words WHERE word IN :w").bindparams(
            bindparam("w", expanding=True)
        )
        found = {
            r.word: (int(r.id), bool(r.has_postings)) for r in conn.execute(select, {"w": sorted(words)})
        }
        missing = sorted(words - set(found))
        if missing:
            conn.execute(
                text("INSERT IGNORE INTO search_words (word, df, has_postings) VALUES (:w, 0, 1)"),
                [{"w": w} for w in missing],
            )
            found.update(
                {r.word: (int(r.id), bool(r.has_postings)) for r in conn.execute(select, {"w": missing})}
            )
        return found

    @staticmethod
    def _apply_df(conn: Connection, df: Counter[str], word_ids: dict[str, tuple[int, bool]]) -> None:
        by_delta: dict[int, list[int]] = {}
        for word, delta in df.items():
            if delta:
                by_delta.setdefault(delta, []).append(word_ids[word][0])
        for delta, ids in sorted(by_delta.items()):
            conn.execute(
                text("UPDATE search_words SET df = df + :d WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"d": delta, "ids": sorted(ids)},
            )

    @staticmethod
    def _apply_categories(conn: Connection, categories: Counter[str]) -> None:
        changes = {c: d for c, d in categories.items() if d}
        if not changes:
            return
        conn.execute(
            text("INSERT IGNORE INTO category_counts (category, product_count) VALUES (:c, 0)"),
            [{"c": c} for c in sorted(changes)],
        )
        for category, delta in sorted(changes.items()):
            conn.execute(
                text("UPDATE category_counts SET product_count = product_count + :d WHERE category = :c"),
                {"d": delta, "c": category},
            )

    @staticmethod
    def _apply_postings(
        conn: Connection,
        ids: list[int],
        before: dict[int, _Indexed],
        after: dict[int, tuple[Any, set[str]]],
        word_ids: dict[str, tuple[int, bool]],
    ) -> None:
        removals, upserts = [], []
        for product_id in ids:
            old = before.get(product_id)
            row, words = after.get(product_id, (None, set()))
            new_vocab = {vocab_word(w) for w in words}
            for word in sorted((old.words if old else frozenset()) - new_vocab):
                word_id, has_postings = word_ids[word]
                if has_postings:
                    removals.append({"w": word_id, "p": product_id})
            for word in sorted(new_vocab):
                word_id, has_postings = word_ids[word]
                if has_postings:
                    upserts.append(
                        {
                            "w": word_id,
                            "p": product_id,
                            "c": row.category,
                            "price": row.price,
                            "t": row.created_at,
                            "n": row.name,
                        }
                    )
        if removals:
            conn.execute(text("DELETE FROM search_postings WHERE word_id = :w AND product_id = :p"), removals)
        if upserts:
            conn.execute(
                text(
                    "INSERT INTO search_postings (word_id, product_id, category, price, created_at, name)"
                    " VALUES (:w, :p, :c, :price, :t, :n) ON DUPLICATE KEY UPDATE category = VALUES(category),"
                    " price = VALUES(price), created_at = VALUES(created_at), name = VALUES(name)"
                ),
                upserts,
            )

    @staticmethod
    def _apply_search_rows(conn: Connection, ids: list[int], after: dict[int, tuple[Any, set[str]]]) -> None:
        gone = [i for i in ids if i not in after]
        if gone:
            conn.execute(
                text("DELETE FROM product_search WHERE product_id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": gone},
            )
        if after:
            conn.execute(
                text(
                    "INSERT INTO product_search (product_id, category, search_text) VALUES (:p, :c, :s)"
                    " ON DUPLICATE KEY UPDATE category = VALUES(category), search_text = VALUES(search_text)"
                ),
                [{"p": i, "c": row.category, "s": search_text(words)} for i, (row, words) in after.items()],
            )
