"""The search plan: exact candidate sets by bitmaps, then only the sort buckets that hold the page.

0. A single term of a few rare words: one statement on its postings (rare.py), which declines any
   other term after reading its vocabulary rows only.
1. Resolve: each term is one heavy-prefix bitmap or the bitmaps of the (at most PREFIX_MAX_WORDS)
   words it prefixes; the category is a bitmap. M = AND of the terms' ORs and the category: the
   exact set of matching products, |M| by popcount. Empty M: no page.
2. Small M (|M| <= limits.DIRECT_MAX): its rows are read by primary key, filtered, sorted and cut to the
   page in one statement.
3. A price range with another sort: P, the products in the range, from the price buckets (whole
   buckets inside the range as bitmaps, the at most two buckets at its edges from the price
   index); M &= P, and step 2 again.
4. Otherwise the sort's buckets are read in the page's direction from the one holding the cursor:
   |M & bucket| says how many matches each holds. A bucket with a few (<= limits.DIRECT_BUCKET) gives its
   ids to a primary-key read; one with many is walked on the (category,) sort index, testing
   membership in M, until the page is full. Buckets without a match cost one bitmap each and no
   index entry.

The page's rows are read last by id and checked against what ordered them (sort key, terms,
filters): the steps are several statements, each its own snapshot under the autocommit read
engine, and a product changed in between must not be shown out of place. A failed check runs
the plan again; after limits.MAX_ATTEMPTS the caller's single-statement plans answer.

Bound (bound(), docs/catalog-queries.md): one attempt at a page reads at most, with T terms, C =
ceil(N / 65536) containers and J buckets per sort: T x (PREFIX_MAX_WORDS + C + 2) + 1 resolution
rows, (T x PREFIX_MAX_WORDS + 1) x C bitmap rows, the J bucket rows of the sort and the J of price,
4 x SPLIT_AT + 128 index entries (two price edges, two walked buckets) and 2 x limits.DIRECT_MAX + fetch
rows by primary key, and step 0's 2 x (PREFIX_MAX_WORDS + 1) vocabulary rows. Nothing in it depends on
where the matches sit in the sort order.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection

from catalog_service.listing.query import ListQuery
from catalog_service.listing.text import MAX_VOCAB_WORD
from catalog_service.search import bitmaps, buckets, limits
from catalog_service.search.bitmaps import (
    CONTAINER_BITS,
    Reads,
)
from catalog_service.search.candidates import candidate_set
from catalog_service.search.pages import direct_page, page_rows
from catalog_service.search.ranges import price_set
from catalog_service.search.rare import Declined, rare_term_page
from catalog_service.search.walk import walk_buckets


def search(
    conn: Connection,
    query: ListQuery,
    fetch: int,
    reads: Reads | None = None,
    declined: Declined | None = None,
) -> list[Any] | None:
    """The next `fetch` rows of a search (PRODUCT_COLUMNS), or None when this plan does not serve
    the query (no terms, a term longer than the stored words, or concurrent writes kept changing
    the page): the caller's plans answer then. `declined` (the reader's) skips step 0 for terms it
    declined lately."""
    if not query.terms or any(len(t) > MAX_VOCAB_WORD for t in query.terms):
        return None
    reads = reads if reads is not None else Reads()
    if len(query.terms) == 1 and (declined is None or query.terms[0] not in declined):
        rows = rare_term_page(conn, query, fetch, reads)
        if rows is not None:
            return rows
        if declined is not None:
            declined.add(query.terms[0])
    for _ in range(limits.MAX_ATTEMPTS):
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
    if len(candidates) <= limits.DIRECT_MAX:
        return direct_page(conn, query, candidates, fetch, reads, found.untested)
    has_price = query.min_price is not None or query.max_price is not None
    if has_price and query.sort != "price":
        candidates &= price_set(conn, query, reads)
        if not candidates:
            reads.steps.append("empty after price")
            return []
        if len(candidates) <= limits.DIRECT_MAX:
            return direct_page(conn, query, candidates, fetch, reads)
    ordered = walk_buckets(conn, query, candidates, fetch, reads)
    return page_rows(conn, query, ordered, reads)


def bound(
    products: int, sort_buckets: int, price_buckets: int, fetch: int, terms: int = limits.MAX_TERMS
) -> int:
    """The most rows and index entries one attempt of a page reads (every kind added up), from the
    catalog's size and its bucket counts."""
    containers = max(1, math.ceil((max(products, 1)) / (1 << CONTAINER_BITS)))
    # per term: its prefix row and that prefix's container rows (their member counts), or up to
    # PREFIX_MAX_WORDS + 1 word rows; the category row
    resolution = terms * (1 + containers + bitmaps.PREFIX_MAX_WORDS + 1) + 1
    bitmap_rows = (terms * bitmaps.PREFIX_MAX_WORDS + 1) * containers
    walk = (
        2 * buckets.SPLIT_AT + 2 * limits.WALK_CHUNK_MIN
    )  # the cursor's bucket and the one that fills the page
    price_edges = 2 * buckets.SPLIT_AT
    # by id: a small M with its untested terms on product_search, or the buckets read by id; the page
    lookups = max(2 * limits.DIRECT_MAX, fetch + 3 * limits.DIRECT_BUCKET) + fetch
    rare_term = 2 * (bitmaps.PREFIX_MAX_WORDS + 1)  # step 0 declining a term
    return rare_term + resolution + bitmap_rows + sort_buckets + price_buckets + walk + price_edges + lookups
