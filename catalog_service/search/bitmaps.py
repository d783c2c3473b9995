"""Bitmaps of product ids stored in MariaDB, one row per (set, 65536-id container).

A set is a word, a heavy prefix or a category (KIND_*). Its members with `id >> 16 == hi` are one
row, serialized by pyroaring (the portable Roaring format): dense containers are 8 KiB bitsets,
sparse ones 2 bytes per member. A write that adds or removes a product touches one row per set it
changes; a read of a set reads ceil(ids / 65536) rows at most.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pyroaring import BitMap
from sqlalchemy import Connection, text

KIND_WORD = 0
KIND_PREFIX = 1
KIND_CATEGORY = 2
CONTAINER_BITS = 16
# A prefix of 3+ characters that starts more words than this has a bitmap of its own, so a term
# reads at most this many word bitmaps (or one prefix bitmap).
PREFIX_MAX_WORDS = 8

SetKey = tuple[int, int]  # (kind, set_id)


@dataclass
class Reads:
    """What a plan read, for the bound (tests and the bench): bitmap rows and their bytes, bucket
    rows, index entries walked and rows looked up by primary key, statements."""

    bitmap_rows: int = 0
    bitmap_bytes: int = 0
    bucket_rows: int = 0
    entries: int = 0
    lookups: int = 0
    statements: int = 0
    steps: list[str] = field(default_factory=list)


def containers(bitmap: BitMap) -> Iterable[tuple[int, BitMap]]:
    """(hi, members with id >> 16 == hi) for every non-empty container of the bitmap."""
    if not bitmap:
        return
    for hi in range(bitmap.min() >> CONTAINER_BITS, (bitmap.max() >> CONTAINER_BITS) + 1):
        lo = hi << CONTAINER_BITS
        if bitmap.range_cardinality(lo, lo + (1 << CONTAINER_BITS)):
            window = BitMap()
            window.add_range(lo, lo + (1 << CONTAINER_BITS))
            yield hi, bitmap & window


def encode(part: BitMap) -> bytes:
    part.run_optimize()
    return bytes(part.serialize())


def rows_of(kind: int, set_id: int, bitmap: BitMap) -> list[dict[str, object]]:
    return [
        {"k": kind, "s": set_id, "h": hi, "m": len(part), "b": encode(part)}
        for hi, part in containers(bitmap)
    ]


INSERT_ROWS = "INSERT INTO search_bitmaps (kind, set_id, hi, members, bits) VALUES (:k, :s, :h, :m, :b)"


def read_sets(conn: Connection, keys: Iterable[SetKey], reads: Reads | None = None) -> dict[SetKey, BitMap]:
    """The bitmap of every set (empty when it has no rows), in one statement."""
    by_kind: dict[int, set[int]] = {}
    for kind, set_id in keys:
        by_kind.setdefault(kind, set()).add(int(set_id))
    found: dict[SetKey, BitMap] = {(k, s): BitMap() for k, ids in by_kind.items() for s in ids}
    if not by_kind:
        return found
    # One table, ranges ORed: no UNION (whose temporary table would hold the bitmaps).
    where = " OR ".join(
        f"(kind = {int(kind)} AND set_id IN ({', '.join(str(i) for i in sorted(ids))}))"
        for kind, ids in sorted(by_kind.items())
    )
    rows = conn.execute(text(f"SELECT kind, set_id, bits FROM search_bitmaps WHERE {where}")).fetchall()
    pieces: dict[SetKey, list[BitMap]] = {}
    size = 0
    for kind, set_id, bits in rows:
        pieces.setdefault((int(kind), int(set_id)), []).append(BitMap.deserialize(bits))
        size += len(bits)
    for key, parts_ in pieces.items():
        found[key] = parts_[0] if len(parts_) == 1 else BitMap.union(*parts_)
    if reads is not None:
        reads.bitmap_rows += len(rows)
        reads.bitmap_bytes += size
        reads.statements += 1
    return found


def apply_changes(
    conn: Connection, adds: Mapping[SetKey, set[int]], removes: Mapping[SetKey, set[int]]
) -> None:
    """Adds and removes members, row by row (locked, in key order, so writers never deadlock on the
    order), within the caller's transaction. A container row that becomes empty is deleted."""
    touched: dict[tuple[int, int, int], tuple[set[int], set[int]]] = {}
    for source, which in ((adds, 0), (removes, 1)):
        for (kind, set_id), ids in source.items():
            for product_id in ids:
                entry = touched.setdefault((kind, set_id, product_id >> CONTAINER_BITS), (set(), set()))
                entry[which].add(product_id)
    if not touched:
        return
    keys = sorted(touched)
    current: dict[tuple[int, int, int], BitMap] = {}
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        where = " OR ".join(f"(kind = {k} AND set_id = {s} AND hi = {h})" for k, s, h in batch)
        for kind, set_id, hi, bits in conn.execute(
            text(
                f"SELECT kind, set_id, hi, bits FROM search_bitmaps WHERE {where} ORDER BY kind, set_id, hi FOR UPDATE"
            )
        ):
            current[(int(kind), int(set_id), int(hi))] = BitMap.deserialize(bits)
    upserts, deletes = [], []
    for key in keys:
        bitmap = current.get(key, BitMap())
        added, removed = touched[key]
        bitmap.update(added)
        bitmap.difference_update(BitMap(removed - added))
        if bitmap:
            upserts.append({"k": key[0], "s": key[1], "h": key[2], "m": len(bitmap), "b": encode(bitmap)})
        elif key in current:
            deletes.append({"k": key[0], "s": key[1], "h": key[2]})
    if upserts:
        conn.execute(
            text(INSERT_ROWS + " ON DUPLICATE KEY UPDATE members = VALUES(members), bits = VALUES(bits)"),
            upserts,
        )
    if deletes:
        conn.execute(text("DELETE FROM search_bitmaps WHERE kind = :k AND set_id = :s AND hi = :h"), deletes)


def heavy_prefixes(words: Iterable[str], max_words: int | None = None) -> dict[str, list[str]]:
    """Every prefix of 3+ characters that starts more than max_words (PREFIX_MAX_WORDS) of the
    words, with those words."""
    max_words = PREFIX_MAX_WORDS if max_words is None else max_words
    starting: dict[str, list[str]] = {}
    for word in words:
        for n in range(3, len(word) + 1):
            starting.setdefault(word[:n], []).append(word)
    return {p: ws for p, ws in starting.items() if len(ws) > max_words}
