"""The search plan: exact candidate sets by bitmaps, then only the sort buckets that hold the page.

1. Resolve: each term is one heavy-prefix bitmap or the bitmaps of the (at most PREFIX_MAX_WORDS)
   words it prefixes; the category is a bitmap. M = AND of the terms' ORs and the category: the
   exact set of matching products, |M| by popcount. Empty M: no page.
2. Small M (|M| <= DIRECT_MAX): its rows are read by primary key, filtered, sorted and cut to the
   page in one statement.
3. A price range with another sort: P, the products in the range, from the price buckets (whole
   buckets inside the range as bitmaps, the at most two buckets at its edges from the price
   index); M &= P, and step 2 again.
4. Otherwise the sort's buckets are read in the page's direction from the one holding the cursor:
   |M & bucket| says how many matches each holds. A bucket with a few (<= DIRECT_BUCKET) gives its
   ids to a primary-key read; one with many is walked on the (category,) sort index, testing
   membership in M, until the page is full. Buckets without a match cost one bitmap each and no
   index entry.

The page's rows are read last by id and checked against what ordered them (sort key, terms,
filters): the steps are several statements, each its own snapshot under the autocommit read
engine, and a product changed in between must not be shown out of place. A failed check runs
the plan again; after MAX_ATTEMPTS the caller's single-statement plans answer.

Bound (bound(), docs/catalog-queries.md): one attempt at a page reads at most, with T terms, C =
ceil(N / 65536) containers and J buckets per sort: T x (PREFIX_MAX_WORDS + C + 2) + 1 resolution
rows, (T x PREFIX_MAX_WORDS + 1) x C bitmap rows, the J bucket rows of the sort and the J of price,
4 x SPLIT_AT + 128 index entries (two price edges, two walked buckets) and 2 x DIRECT_MAX + fetch
rows by primary key. Nothing in it depends on where the matches sit in the sort order.
"""

from __future__ import annotations

import array
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.domain import PRODUCT_FIELDS
from catalog_service.listing.query import ListQuery
from catalog_service.listing.sql import PRODUCT_COLUMNS, escape_like, keyset_value
from catalog_service.listing.text import MAX_VOCAB_WORD, index_words, matches
from catalog_service.search import bitmaps, buckets
from catalog_service.search.bitmaps import (
    CONTAINER_BITS,
    KIND_CATEGORY,
    KIND_PREFIX,
    KIND_WORD,
    Reads,
    SetKey,
    read_sets,
)
from catalog_service.search.buckets import SORT_INDEX, Bucket, position_condition

# Measured on 1M products (docs/catalog-queries.md): a primary-key read costs about 3 us, a sort
# index entry walked and tested about 1 us, a bucket bitmap about 20 us.
DIRECT_MAX = 1000
# A bucket with at most this many candidates is read by id (<= 512 lookups, ~0.7 ms), one with more
# is walked (expected fetch x bucket size / candidates entries, ~340 for a page of 21; at most the
# bucket when its candidates sit at its far end).
DIRECT_BUCKET = 512
WALK_CHUNK_MIN = 64
MAX_ATTEMPTS = 3
# q has at most 100 characters, so at most 25 terms; the classes have 1 to 8.
MAX_TERMS = 25


def search(conn: Connection, query: ListQuery, fetch: int, reads: Reads | None = None) -> list[Any] | None:
    """The next `fetch` rows of a search (PRODUCT_COLUMNS), or None when this plan does not serve
    the query (no terms, a term longer than the stored words, or concurrent writes kept changing
    the page): the caller's plans answer then."""
    if not query.terms or any(len(t) > MAX_VOCAB_WORD for t in query.terms):
        return None
    reads = reads if reads is not None else Reads()
    for _ in range(MAX_ATTEMPTS):
        rows = _attempt(conn, query, fetch, reads)
        if rows is not None:
            return rows
        reads.steps.append("retry: the page changed under the plan")
    return None


def _attempt(conn: Connection, query: ListQuery, fetch: int, reads: Reads) -> list[Any] | None:
    found = candidate_set(conn, query, reads)
    if found is None or not found.members:
        reads.steps.append("empty")
        return []
    candidates = found.members
    if len(candidates) <= DIRECT_MAX:
        return _direct_page(conn, query, candidates, fetch, reads, found.untested)
    has_price = query.min_price is not None or query.max_price is not None
    if has_price and query.sort != "price":
        candidates &= price_set(conn, query, reads)
        if not candidates:
            reads.steps.append("empty after price")
            return []
        if len(candidates) <= DIRECT_MAX:
            return _direct_page(conn, query, candidates, fetch, reads)
    ordered = _walk_buckets(conn, query, candidates, fetch, reads)
    return _page_rows(conn, query, ordered, reads)


# -- 1. the candidate set ------------------------------------------------------------------------


@dataclass
class Term:
    term: str
    sets: list[SetKey]
    estimate: int  # members of its sets added up (an upper bound of its products)


def resolve(conn: Connection, query: ListQuery, reads: Reads) -> tuple[list[Term], SetKey | None] | None:
    """Per term the sets whose union it is, rarest first; the category's set. None if some term or
    the category has no set at all (nothing can match)."""
    parts, params = [], {}
    for i, term in enumerate(query.terms):
        params[f"t{i}"] = term
        params[f"p{i}"] = escape_like(term) + "%"
        parts.append(
            f"(SELECT {i} AS i, {KIND_PREFIX} AS kind, x.id, (SELECT COALESCE(SUM(b.members), 0) FROM"
            f" search_bitmaps b WHERE b.kind = {KIND_PREFIX} AND b.set_id = x.id) AS n"
            f" FROM search_prefixes x WHERE x.prefix = :t{i})"
        )
        parts.append(
            f"(SELECT {i} AS i, {KIND_WORD} AS kind, id, df AS n FROM search_words WHERE word LIKE :p{i}"
            f" ORDER BY word LIMIT {bitmaps.PREFIX_MAX_WORDS + 1})"
        )
    if query.category is not None:
        params["c"] = query.category
        parts.append(
            f"(SELECT -1 AS i, {KIND_CATEGORY} AS kind, id, 0 AS n FROM search_categories WHERE category = :c)"
        )
    # One statement that starts with SELECT (so statement time limits apply to it).
    rows = conn.execute(text(f"SELECT * FROM ({' UNION ALL '.join(parts)}) r"), params).fetchall()
    reads.statements += 1
    reads.lookups += len(rows)
    terms: list[Term] = []
    for i, term in enumerate(query.terms):
        mine = [r for r in rows if int(r.i) == i]
        prefix = [r for r in mine if int(r.kind) == KIND_PREFIX]
        words = [r for r in mine if int(r.kind) == KIND_WORD]
        if prefix:
            chosen = prefix
        elif len(words) > bitmaps.PREFIX_MAX_WORDS:  # no prefix bitmap (yet): every word, correct but dearer
            chosen = list(
                conn.execute(
                    text(f"SELECT {KIND_WORD} AS kind, id, df AS n FROM search_words WHERE word LIKE :p"),
                    {"p": escape_like(term) + "%"},
                ).fetchall()
            )
            reads.statements += 1
            reads.lookups += len(chosen)
        elif words:
            chosen = words
        else:
            return None
        terms.append(Term(term, [(int(r.kind), int(r.id)) for r in chosen], sum(int(r.n) for r in chosen)))
    category = next(((KIND_CATEGORY, int(r.id)) for r in rows if int(r.i) == -1), None)
    if query.category is not None and category is None:
        return None
    terms.sort(key=lambda t: (t.estimate, t.term))
    return terms, category


@dataclass
class Candidates:
    members: BitMap
    untested: tuple[str, ...]  # terms not applied to members: the direct read tests them on product_search


def candidate_set(conn: Connection, query: ListQuery, reads: Reads) -> Candidates | None:
    """M, from the rarest term on; once M is small enough to be read by id (DIRECT_MAX) the other
    terms are left to that read (at most DIRECT_MAX rows tested), so a term never costs its
    bitmaps when an earlier one already made M small."""
    resolved = resolve(conn, query, reads)
    if resolved is None:
        return None
    terms, category = resolved
    members: BitMap | None = None
    for n, term in enumerate(terms):
        keys = term.sets + ([category] if category is not None and n == 0 else [])
        found = read_sets(conn, keys, reads)
        union = BitMap.union(BitMap(), *(found[k] for k in term.sets))
        if category is not None and n == 0:
            union &= found[category]
        members = union if members is None else members & union
        if not members or (len(members) <= DIRECT_MAX and n + 1 < len(terms)):
            untested = tuple(t.term for t in terms[n + 1 :]) if members else ()
            reads.steps.append(f"candidates {len(members)} after {n + 1} of {len(terms)} terms")
            return Candidates(members, untested)
    assert members is not None
    reads.steps.append(f"candidates {len(members)}")
    return Candidates(members, ())


# -- 2. small sets: by primary key ---------------------------------------------------------------


def _id_list(ids: Any) -> str:
    return ", ".join(str(int(i)) for i in ids)


def _filters(query: ListQuery, alias: str = "p") -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if query.category is not None:
        conditions.append(f"{alias}.category = :category")
        params["category"] = query.category
    if query.min_price is not None:
        conditions.append(f"{alias}.price >= :min_price")
        params["min_price"] = query.min_price
    if query.max_price is not None:
        conditions.append(f"{alias}.price <= :max_price")
        params["max_price"] = query.max_price
    if query.after is not None:
        op = "<" if query.order == "desc" else ">"
        cond, p = position_condition(
            f"{alias}.{query.sort}",
            f"{alias}.id",
            op,
            "k",
            keyset_value(query.sort, query.after.value),
            query.after.id,
        )
        conditions.append(cond)
        params.update(p)
    return conditions, params


def _order(query: ListQuery, alias: str = "p") -> str:
    direction = "DESC" if query.order == "desc" else "ASC"
    return f"{alias}.{query.sort} {direction}, {alias}.id {direction}"


def _direct_page(
    conn: Connection,
    query: ListQuery,
    candidates: BitMap,
    fetch: int,
    reads: Reads,
    untested: tuple[str, ...] = (),
) -> list[Any] | None:
    conditions, params = _filters(query)
    conditions.insert(0, f"p.id IN ({_id_list(candidates)})")
    join = ""
    if untested:
        join = " STRAIGHT_JOIN product_search s ON s.product_id = p.id"
        for i, term in enumerate(untested):
            conditions.append(f"s.search_text LIKE :u{i}")
            params[f"u{i}"] = "% " + escape_like(term) + "%"
        reads.lookups += len(candidates)
    rows = list(
        conn.execute(
            text(
                f"SELECT {PRODUCT_COLUMNS} FROM products p{join} WHERE {' AND '.join(conditions)}"
                f" ORDER BY {_order(query)} LIMIT {int(fetch)}"
            ),
            params,
        ).fetchall()
    )
    reads.statements += 1
    reads.lookups += len(candidates)
    reads.steps.append(f"direct {len(candidates)}")
    return rows if _rows_match(query, rows) else None


# -- 3. price range with another sort ------------------------------------------------------------


def price_set(conn: Connection, query: ListQuery, reads: Reads) -> BitMap:
    """The products in the query's price range (its category's, when it has one)."""
    low = query.min_price
    high = query.max_price
    start = (low, 0) if low is not None else None
    found = BitMap()
    edges = 0
    items = _with_next(buckets.ordered(conn, "price", False, start, reads))
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
        found |= _ids_in(
            conn, f"FROM products p FORCE INDEX ({index}) WHERE {' AND '.join(conditions)}", params, reads
        )
    reads.steps.append(f"price set {len(found)} ({edges} edge buckets)")
    return found


def _ids_in(conn: Connection, source: str, params: dict[str, Any], reads: Reads) -> BitMap:
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


def _with_next(items: Iterator[Bucket]) -> Iterator[tuple[Bucket, Bucket | None]]:
    previous: Bucket | None = None
    for item in items:
        if previous is not None:
            yield previous, item
        previous = item
    if previous is not None:
        yield previous, None


# -- 4. the sort's buckets -----------------------------------------------------------------------


def _start(query: ListQuery) -> tuple[Any, int] | None:
    """The position the walk starts from: the cursor, or the price bound when sorting by price."""
    descending = query.order == "desc"
    position = (
        (keyset_value(query.sort, query.after.value), query.after.id) if query.after is not None else None
    )
    if query.sort == "price":
        bound = query.max_price if descending else query.min_price
        if bound is not None:
            edge = (bound, buckets.MAX_ID) if descending else (bound, 0)
            if position is None or (position < edge if not descending else position > edge):
                position = edge
    return position


def _walk_buckets(
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
        pairs: Iterator[tuple[Bucket, Bucket | None]] = _with_next(items)
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
        elif count <= DIRECT_BUCKET:
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
    conditions, params = _filters(query)
    conditions.insert(0, f"p.id IN ({_id_list(sorted(ids))})")
    rows = conn.execute(
        text(
            f"SELECT p.id, p.{query.sort} AS k FROM products p WHERE {' AND '.join(conditions)}"
            f" ORDER BY {_order(query)} LIMIT {int(limit)}"
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
    base, params = _filters(query)
    column = f"p.{query.sort}"
    cond, p = position_condition(column, "p.id", ">=", "lo", bucket.lo, bucket.lo_id)
    base.append(cond)
    params.update(p)
    if upper is not None:
        cond, p = position_condition(column, "p.id", "<", "hi", upper.lo, upper.lo_id)
        base.append(cond)
        params.update(p)
    found: list[tuple[int, Any]] = []
    chunk = max(WALK_CHUNK_MIN, math.ceil(needed * max(bucket.members, 1) / count * 1.5))
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
                f" WHERE {' AND '.join(conditions)} ORDER BY {_order(query)} LIMIT {int(chunk)}"
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


# -- the page's rows, checked --------------------------------------------------------------------


def _page_rows(
    conn: Connection, query: ListQuery, ordered: list[tuple[int, Any]], reads: Reads
) -> list[Any] | None:
    if not ordered:
        return []
    ids = [i for i, _ in ordered]
    if len(set(ids)) != len(ids):
        return None
    conditions = [f"p.id IN ({_id_list(ids)})"]
    params: dict[str, Any] = {}
    if query.category is not None:
        conditions.append("p.category = :category")
        params["category"] = query.category
    rows = conn.execute(
        text(f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE {' AND '.join(conditions)}"), params
    ).fetchall()
    reads.statements += 1
    reads.lookups += len(ids)
    by_id = {int(r[0]): r for r in rows}
    key_at = PRODUCT_FIELDS.index(query.sort)
    page = []
    for product_id, key in ordered:
        row = by_id.get(product_id)
        if row is None or row[key_at] != key:
            return None
        page.append(row)
    return page if _rows_match(query, page) else None


_NAME, _DESCRIPTION, _PRICE = (PRODUCT_FIELDS.index(f) for f in ("name", "description", "price"))


def _rows_match(query: ListQuery, rows: list[Any]) -> bool:
    for row in rows:
        if not matches(query.terms, index_words(row[_NAME], row[_DESCRIPTION])):
            return False
        price: Decimal = row[_PRICE]
        if (query.min_price is not None and price < query.min_price) or (
            query.max_price is not None and price > query.max_price
        ):
            return False
    return True


# -- the bound -----------------------------------------------------------------------------------


def bound(products: int, sort_buckets: int, price_buckets: int, fetch: int, terms: int = MAX_TERMS) -> int:
    """The most rows and index entries one attempt of a page reads (every kind added up), from the
    catalog's size and its bucket counts."""
    containers = max(1, math.ceil((max(products, 1)) / (1 << CONTAINER_BITS)))
    # per term: its prefix row and that prefix's container rows (their member counts), or up to
    # PREFIX_MAX_WORDS + 1 word rows; the category row
    resolution = terms * (1 + containers + bitmaps.PREFIX_MAX_WORDS + 1) + 1
    bitmap_rows = (terms * bitmaps.PREFIX_MAX_WORDS + 1) * containers
    walk = 2 * buckets.SPLIT_AT + 2 * WALK_CHUNK_MIN  # the cursor's bucket and the one that fills the page
    price_edges = 2 * buckets.SPLIT_AT
    # by id: a small M with its untested terms on product_search, or the buckets read by id; the page
    lookups = max(2 * DIRECT_MAX, fetch + 3 * DIRECT_BUCKET) + fetch
    return resolution + bitmap_rows + sort_buckets + price_buckets + walk + price_edges + lookups
