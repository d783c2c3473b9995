"""Step 3 of the search plan: the products in a price range, from the price buckets (whole buckets as
bitmaps, the two at its edges from the price index)."""

from __future__ import annotations

import array
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import SORT_INDEX
from catalog_service.search import buckets
from catalog_service.search.bitmaps import (
    Reads,
)
from catalog_service.search.buckets import position_condition
from catalog_service.search.walk import with_next


def price_set(conn: Connection, query: ListQuery, reads: Reads) -> BitMap:
    """The products in the query's price range (its category's, when it has one)."""
    low = query.min_price
    high = query.max_price
    start = (low, 0) if low is not None else None
    found = BitMap()
    edges = 0
    items = with_next(buckets.ordered(conn, "price", False, start, reads))
    for bucket, after in items:
        if high is not None and bucket.lo > high:
            break
        inside_low = low is None or bucket.lo >= low
        inside_high = after is not None and (high is None or after.lo <= high)
        if inside_low and inside_high:
            found |= bucket.bits
            continue
        edges += 1
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if query.category is not None:
            conditions.append("p.category = :category")
            params["category"] = query.category
        if low is not None:
            conditions.append("p.price >= :min_price")
            params["min_price"] = low
        if high is not None:
            conditions.append("p.price <= :max_price")
            params["max_price"] = high
        cond, p = position_condition("p.price", "p.id", ">=", "lo", bucket.lo, bucket.lo_id)
        conditions.append(cond)
        params.update(p)
        if after is not None:
            cond, p = position_condition("p.price", "p.id", "<", "hi", after.lo, after.lo_id)
            conditions.append(cond)
            params.update(p)
        index = SORT_INDEX[(query.category is not None, "price")]
        found |= ids_in(
            conn, f"FROM products p FORCE INDEX ({index}) WHERE {' AND '.join(conditions)}", params, reads
        )
    reads.steps.append(f"price set {len(found)} ({edges} edge buckets)")
    return found


def ids_in(conn: Connection, source: str, params: dict[str, Any], reads: Reads) -> BitMap:
    """The ids `SELECT p.id {source}` finds, as one GROUP_CONCAT string: thousands of result rows
    would be thousands of tuples for the garbage collector (its full collections paused a search
    for 30-40 ms), ints parsed from a string are not tracked. Rows again if the string was cut
    (group_concat_max_len)."""
    count, total, joined = conn.execute(
        text(f"SELECT COUNT(*), SUM(p.id), GROUP_CONCAT(p.id) {source}"), params
    ).one()
    reads.statements += 1
    reads.entries += int(count)
    if not count:
        return BitMap()
    try:
        parsed = array.array("I", map(int, joined.split(",")))
    except ValueError:  # cut just after a comma
        parsed = array.array("I")
    ids = BitMap(parsed)
    if len(parsed) != int(count) or sum(parsed) != int(total):  # cut, perhaps inside the last id
        rows = conn.execute(text(f"SELECT p.id {source}"), params).fetchall()
        reads.statements += 1
        ids = BitMap([r[0] for r in rows])
    return ids
