"""Step 4 of the search plan: the sort's buckets from the cursor's, each counted against M and read by
id when it holds few matches or walked on the sort index when it holds many."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.listing.keyset import sql_value
from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import SORT_INDEX
from catalog_service.search import buckets, limits
from catalog_service.search.bitmaps import (
    Reads,
)
from catalog_service.search.buckets import Bucket, position_condition
from catalog_service.search.pages import filters, id_list, order


def with_next(items: Iterator[Bucket]) -> Iterator[tuple[Bucket, Bucket | None]]:
    previous: Bucket | None = None
    for item in items:
        if previous is not None:
            yield previous, item
        previous = item
    if previous is not None:
        yield previous, None


def _start(query: ListQuery) -> tuple[Any, int] | None:
    """The position the walk starts from: the cursor, or the price bound when sorting by price."""
    descending = query.order == "desc"
    position = (sql_value(query.sort, query.after.value), query.after.id) if query.after is not None else None
    if query.sort == "price":
        bound = query.max_price if descending else query.min_price
        if bound is not None:
            edge = (bound, buckets.MAX_ID) if descending else (bound, 0)
            if position is None or (position < edge if not descending else position > edge):
                position = edge
    return position


def walk_buckets(
    conn: Connection, query: ListQuery, candidates: BitMap, fetch: int, reads: Reads
) -> list[tuple[int, Any]]:
    """(id, sort key) of the page in order."""
    descending = query.order == "desc"
    out: list[tuple[int, Any]] = []
    pending: list[int] = []
    walked_buckets = direct_buckets = skipped = 0
    previous: Bucket | None = None  # the bucket after this one in key order (descending walk)

    def flush() -> None:
        nonlocal pending
        if pending:
            out.extend(_direct_keys(conn, query, pending, fetch - len(out), reads))
            pending = []

    items = buckets.ordered(conn, query.sort, descending, _start(query), reads)
    if not descending:
        pairs: Iterator[tuple[Bucket, Bucket | None]] = with_next(items)
    else:
        pairs = ((b, None) for b in items)
    for bucket, following in pairs:
        upper = following if not descending else previous
        previous = bucket
        if (
            query.sort == "price"
            and not descending
            and query.max_price is not None
            and bucket.lo > query.max_price
        ):
            break
        count = candidates.intersection_cardinality(bucket.bits)
        if count == 0:
            skipped += 1
        elif count <= limits.DIRECT_BUCKET:
            direct_buckets += 1
            pending.extend(candidates & bucket.bits)
            if len(pending) >= fetch - len(out):
                flush()
        else:
            flush()
            if len(out) >= fetch:
                break
            walked_buckets += 1
            out.extend(_walk(conn, query, candidates, bucket, upper, count, fetch - len(out), reads))
        if len(out) >= fetch:
            break
        if (
            query.sort == "price"
            and descending
            and query.min_price is not None
            and bucket.lo < query.min_price
        ):
            break
    flush()
    reads.steps.append(f"buckets: {walked_buckets} walked, {direct_buckets} by id, {skipped} without a match")
    return out[:fetch]


def _direct_keys(
    conn: Connection, query: ListQuery, ids: list[int], limit: int, reads: Reads
) -> list[tuple[int, Any]]:
    conditions, params = filters(query)
    conditions.insert(0, f"p.id IN ({id_list(sorted(ids))})")
    rows = conn.execute(
        text(
            f"SELECT p.id, p.{query.sort} AS k FROM products p WHERE {' AND '.join(conditions)}"
            f" ORDER BY {order(query)} LIMIT {int(limit)}"
        ),
        params,
    ).fetchall()
    reads.statements += 1
    reads.lookups += len(ids)
    return [(r[0], r[1]) for r in rows]


def _walk(
    conn: Connection,
    query: ListQuery,
    candidates: BitMap,
    bucket: Bucket,
    upper: Bucket | None,
    count: int,
    needed: int,
    reads: Reads,
) -> list[tuple[int, Any]]:
    """The first `needed` candidates of the bucket's range of the (category,) sort index."""
    descending = query.order == "desc"
    index = SORT_INDEX[(query.category is not None, query.sort)]
    base, params = filters(query)
    column = f"p.{query.sort}"
    cond, p = position_condition(column, "p.id", ">=", "lo", bucket.lo, bucket.lo_id)
    base.append(cond)
    params.update(p)
    if upper is not None:
        cond, p = position_condition(column, "p.id", "<", "hi", upper.lo, upper.lo_id)
        base.append(cond)
        params.update(p)
    found: list[tuple[int, Any]] = []
    chunk = max(limits.WALK_CHUNK_MIN, math.ceil(needed * max(bucket.members, 1) / count * 1.5))
    resume: tuple[Any, int] | None = None
    while len(found) < needed:
        conditions = list(base)
        if resume is not None:
            cond, p = position_condition(
                column, "p.id", "<" if descending else ">", "r", resume[0], resume[1]
            )
            conditions.append(cond)
            params.update(p)
        rows = conn.execute(
            text(
                f"SELECT p.id, {column} AS k FROM products p FORCE INDEX ({index})"
                f" WHERE {' AND '.join(conditions)} ORDER BY {order(query)} LIMIT {int(chunk)}"
            ),
            params,
        ).fetchall()
        reads.statements += 1
        reads.entries += len(rows)
        found.extend((r[0], r[1]) for r in rows if r[0] in candidates)
        if len(rows) < chunk:
            break
        resume = (rows[-1][1], rows[-1][0])
        chunk = min(chunk * 4, buckets.SPLIT_AT)
    return found[:needed]
