"""Sort buckets: consecutive ranges of a sort order, each with the bitmap of its products.

For each sort key (created_at, price, name) the (key, id) order is cut into buckets; a bucket holds
the products from its lower bound (lo, lo_id) up to the next bucket's lower bound, about BUCKET_SIZE
of them (a write that brings a bucket past SPLIT_AT splits it in two). The bounds compare exactly
as the listing's keyset predicates and the products' sort indexes do (same column types and
collations), so a bucket is a range of the sort index: the plan counts a candidate set's members
per bucket (bitmap intersection) and reads only the buckets, and the parts of the index, that hold
the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.listing.statements import SORT_INDEX
from catalog_service.search.bitmaps import Reads, encode

BUCKET_SIZE = 4096
SPLIT_AT = 2 * BUCKET_SIZE

SORT_CODE = {"created_at": 0, "price": 1, "name": 2}
LO_COLUMN = {"created_at": "lo_created", "price": "lo_price", "name": "lo_name"}
BUCKET_INDEX = {
    "created_at": "ix_search_buckets_created",
    "price": "ix_search_buckets_price",
    "name": "ix_search_buckets_name",
}
PRODUCT_BUCKET_COLUMN = {"created_at": "b_created", "price": "b_price", "name": "b_name"}
# Below every product: the first bucket of each sort starts here.
LOWEST: dict[str, Any] = {"created_at": dt.datetime(1000, 1, 1), "price": Decimal("-99999999.99"), "name": ""}
MAX_ID = 2**64 - 1


@dataclass
class Bucket:
    id: int
    lo: Any
    lo_id: int
    members: int
    bits: BitMap = field(default_factory=BitMap)


def position_condition(
    column: str, id_column: str, op: str, name: str, value: Any, row_id: int
) -> tuple[str, dict[str, Any]]:
    """`(column, id) op (value, row_id)` in the expanded form an index range serves (field-notes).

    op is one of <, <=, >, >=; the strictness applies to the id, the key compares strictly."""
    strict = op[0]
    return (
        f"({column} {strict} :{name} OR ({column} = :{name} AND {id_column} {op} :{name}_id))",
        {name: value, f"{name}_id": row_id},
    )


def bucket_of(conn: Connection, sort: str, value: Any, product_id: int) -> int:
    """The bucket that holds (value, product_id) in the sort's order: the last one starting at or before it."""
    column = LO_COLUMN[sort]
    where, params = position_condition(column, "lo_id", "<=", "v", value, product_id)
    row = conn.execute(
        text(
            f"SELECT id FROM search_buckets FORCE INDEX ({BUCKET_INDEX[sort]}) WHERE sort_key = :s AND {where}"
            f" ORDER BY {column} DESC, lo_id DESC LIMIT 1"
        ),
        {"s": SORT_CODE[sort], **params},
    ).first()
    if row is None:
        raise RuntimeError(f"no {sort} bucket starts at or before {value!r}: the first bucket is missing")
    return int(row.id)


def ordered(
    conn: Connection,
    sort: str,
    descending: bool,
    start: tuple[Any, int] | None,
    reads: Reads,
    batch: int = 4,
    max_batch: int = 256,
) -> Iterator[Bucket]:
    """The buckets of a sort in the walk's direction, with their bitmaps, starting with the one that
    holds `start` (value, id) (or the first bucket of the direction); read in growing batches."""
    column, index = LO_COLUMN[sort], BUCKET_INDEX[sort]
    code = SORT_CODE[sort]
    select = f"SELECT id, {column} AS lo, lo_id, members, bits FROM search_buckets FORCE INDEX ({index})"
    order = f"{column} DESC, lo_id DESC" if descending else f"{column}, lo_id"
    after: tuple[Any, int] | None = None
    first = True
    if start is not None and not descending:
        # The bucket holding start, then (below) the ones after it: two plain statements. One with a
        # UNION of both in a derived table puts the bitmaps in an on-disk temporary table, and
        # MariaDB 10.11.19 crashed (signal 11 freeing it) under concurrent load here.
        at, p1 = position_condition(column, "lo_id", "<=", "a", start[0], start[1])
        row = conn.execute(
            text(f"{select} WHERE sort_key = :s AND {at} ORDER BY {column} DESC, lo_id DESC LIMIT 1"),
            {"s": code, **p1},
        ).first()
        reads.statements += 1
        if row is not None:
            reads.bucket_rows += 1
            reads.bitmap_bytes += len(row[4])
            yield Bucket(row[0], row[1], row[2], row[3], BitMap.deserialize(row[4]))
            after = (row[1], row[2])
        first = False
    while True:
        params: dict[str, Any] = {"s": code}
        conditions = ["sort_key = :s"]
        if first and start is not None:  # descending: every bucket starting at or before start
            cond, p = position_condition(column, "lo_id", "<=", "a", start[0], start[1])
            conditions.append(cond)
            params.update(p)
        elif after is not None:
            cond, p = position_condition(column, "lo_id", "<" if descending else ">", "a", after[0], after[1])
            conditions.append(cond)
            params.update(p)
        sql = f"{select} WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT {batch}"
        rows = conn.execute(text(sql), params).fetchall()
        reads.statements += 1
        reads.bucket_rows += len(rows)
        reads.bitmap_bytes += sum(len(r[4]) for r in rows)
        for id_, lo, lo_id, members, bits in rows:
            yield Bucket(id_, lo, lo_id, members, BitMap.deserialize(bits))
        if len(rows) < batch:
            return
        after = (rows[-1][1], rows[-1][2])
        first = False
        batch = min(max_batch, batch * 4)


# -- writes -------------------------------------------------------------------------------------


def lock_shared(conn: Connection) -> None:
    """Bucket bounds stay as they are until the caller's transaction ends (splits wait)."""
    conn.execute(text("SELECT sort_key FROM search_bucket_locks LOCK IN SHARE MODE")).fetchall()


def lock_exclusive(conn: Connection) -> None:
    """No other writer places products or reads prefixes until the caller's transaction ends."""
    conn.execute(text("SELECT sort_key FROM search_bucket_locks ORDER BY sort_key FOR UPDATE")).fetchall()


def change_members(conn: Connection, adds: dict[int, set[int]], removes: dict[int, set[int]]) -> list[int]:
    """Applies membership changes to buckets (locked rows); returns the buckets now past SPLIT_AT."""
    ids = sorted(set(adds) | set(removes))
    if not ids:
        return []
    rows = conn.execute(
        text(
            f"SELECT id, members, bits FROM search_buckets WHERE id IN ({', '.join(str(i) for i in ids)})"
            " ORDER BY id FOR UPDATE"
        )
    ).fetchall()
    updates, full = [], []
    for r in rows:
        bits = BitMap.deserialize(r.bits)
        bits.update(adds.get(int(r.id), ()))
        bits.difference_update(BitMap(removes.get(int(r.id), set()) - adds.get(int(r.id), set())))
        updates.append({"i": int(r.id), "m": len(bits), "b": encode(bits)})
        if len(bits) > SPLIT_AT:
            full.append(int(r.id))
    conn.execute(text("UPDATE search_buckets SET members = :m, bits = :b WHERE id = :i"), updates)
    return full


def split(conn: Connection, sort: str, bucket_id: int) -> None:
    """Cuts a bucket in two at its BUCKET_SIZE-th entry of the sort index; the caller holds the
    sort's lock exclusively (split_full)."""
    column = LO_COLUMN[sort]
    row = conn.execute(
        text(f"SELECT {column} AS lo, lo_id, bits FROM search_buckets WHERE id = :i FOR UPDATE"),
        {"i": bucket_id},
    ).one()
    members = BitMap.deserialize(row.bits)
    if len(members) <= SPLIT_AT:
        return
    start, p1 = position_condition(f"p.{sort}", "p.id", ">=", "lo", row.lo, int(row.lo_id))
    nxt = conn.execute(
        text(
            f"SELECT {column} AS lo, lo_id FROM search_buckets FORCE INDEX ({BUCKET_INDEX[sort]})"
            f" WHERE sort_key = :s AND {position_condition(column, 'lo_id', '>', 'a', row.lo, int(row.lo_id))[0]}"
            f" ORDER BY {column}, lo_id LIMIT 1"
        ),
        {"s": SORT_CODE[sort], "a": row.lo, "a_id": int(row.lo_id)},
    ).first()
    conditions, params = [start], dict(p1)
    if nxt is not None:
        end, p2 = position_condition(f"p.{sort}", "p.id", "<", "hi", nxt.lo, int(nxt.lo_id))
        conditions.append(end)
        params.update(p2)
    entries = conn.execute(
        text(
            f"SELECT p.id, p.{sort} AS k FROM products p FORCE INDEX ({SORT_INDEX[(False, sort)]})"
            f" WHERE {' AND '.join(conditions)} ORDER BY p.{sort}, p.id"
        ),
        params,
    ).fetchall()
    # Cut where the members (what the bucket's bitmap says it holds) reach half.
    inside = [r for r in entries if int(r.id) in members]
    if len(inside) < 2:
        return
    cut = inside[len(inside) // 2]
    upper = BitMap(int(r.id) for r in inside[len(inside) // 2 :])
    lower = members - upper
    conn.execute(
        text("UPDATE search_buckets SET members = :m, bits = :b WHERE id = :i"),
        {"m": len(lower), "b": encode(lower), "i": bucket_id},
    )
    new_id = conn.execute(
        text(
            f"INSERT INTO search_buckets (sort_key, {column}, lo_id, members, bits) VALUES (:s, :lo, :lo_id, :m, :b)"
        ),
        {"s": SORT_CODE[sort], "lo": cut.k, "lo_id": int(cut.id), "m": len(upper), "b": encode(upper)},
    ).lastrowid
    moved = sorted(upper)
    for start_ in range(0, len(moved), 1000):
        conn.execute(
            text(
                f"UPDATE search_product_buckets SET {PRODUCT_BUCKET_COLUMN[sort]} = {int(new_id)}"
                f" WHERE product_id IN ({', '.join(str(i) for i in moved[start_ : start_ + 1000])})"
            )
        )


def split_full(conn: Connection, sort: str, bucket_ids: list[int]) -> None:
    if not bucket_ids:
        return
    conn.execute(
        text("SELECT sort_key FROM search_bucket_locks WHERE sort_key = :s FOR UPDATE"),
        {"s": SORT_CODE[sort]},
    )
    for bucket_id in bucket_ids:
        split(conn, sort, bucket_id)
