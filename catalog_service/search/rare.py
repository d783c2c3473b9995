"""Step 0 of the search plan: a one-term search whose words are few and rare, in one statement.

Such a term (at most PREFIX_MAX_WORDS words, all with postings, in at most limits.DIRECT_MAX products
together) needs no bitmap. Its postings carry category, price and the sort keys (same types and
collations as products), so they are filtered, ordered and cut to the page in the statement, and
only the page's rows are read from products: the rows every other plan returns, from one snapshot,
so there is nothing to re-check. The statement itself checks that the term qualifies, on the
vocabulary rows it reads (`ok`): for a term that does not, it reads no posting and the bitmap plan
answers. One round trip instead of three (vocabulary, bitmaps, rows by id) for the common case of a
specific search word; `Declined` remembers the terms that did not qualify, so their searches skip
the statement for a while.

Reads: 2 x (PREFIX_MAX_WORDS + 1) vocabulary rows, at most limits.DIRECT_MAX postings, `fetch`
rows by primary key.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import Connection

from catalog_service.domain import PRODUCT_FIELDS
from catalog_service.listing.execution import tuples
from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import (
    PRODUCT_COLUMNS,
    Statement,
    add_keyset,
    escape_like,
    filters,
    order_by,
)
from catalog_service.listing.statistics import STATS_MAX_ENTRIES, STATS_TTL_S, TtlCache
from catalog_service.search import bitmaps, limits
from catalog_service.search.bitmaps import Reads

# A page row as the other plans return them (a Row of PRODUCT_COLUMNS): by position and by name.
ProductRow = namedtuple("ProductRow", PRODUCT_FIELDS)  # type: ignore[misc]


class Declined:
    """Terms step 0 declined lately (STATS_TTL_S): a plan choice only, never a result, since the
    statement checks the term on every call it is tried."""

    def __init__(self) -> None:
        self._terms: TtlCache[bool] = TtlCache(STATS_TTL_S, STATS_MAX_ENTRIES)

    def __contains__(self, term: str) -> bool:
        return self._terms.peek(term) is True

    def add(self, term: str) -> None:
        self._terms.put(term, True)


def rare_term_page(conn: Connection, query: ListQuery, fetch: int, reads: Reads) -> list[Any] | None:
    """The next `fetch` rows (PRODUCT_COLUMNS) of a one-term search, or None when the term does not
    qualify (then nothing but its vocabulary rows was read)."""
    (term,) = query.terms
    most_words = bitmaps.PREFIX_MAX_WORDS
    qualifies = (
        f"(SELECT COUNT(*) <= {most_words} AND COALESCE(SUM(v.df), 0) <= {int(limits.DIRECT_MAX)}"
        " AND COALESCE(MIN(v.has_postings), 1) = 1 FROM (SELECT df, has_postings FROM search_words"
        f" WHERE word LIKE :words ORDER BY word LIMIT {most_words + 1}) v)"
    )
    where = filters(query, alias="sp")
    add_keyset(where, query, query.after, alias="sp", id_column="product_id")
    where.add("sp.word_id IN (SELECT w.id FROM search_words w WHERE w.word LIKE :words)")
    where.add(f"{qualifies} = 1")  # the same check as `ok`, so a term that fails it reads no posting
    # A product may hold several words of the term: DISTINCT, one candidate each.
    candidates = (
        f"SELECT DISTINCT sp.product_id, sp.{query.sort} FROM search_postings sp WHERE {where.where()}"
    )
    ids = (
        f"SELECT c.product_id AS id, c.{query.sort} AS k FROM ({candidates}) c"
        f" ORDER BY {order_by(query, 'c', 'product_id')} LIMIT {int(fetch)}"
    )
    direction = "DESC" if query.order == "desc" else "ASC"
    # The one-row `q` keeps `ok` when no product matches: an empty page is told from a declined term.
    sql = (
        f"SELECT q.ok, {PRODUCT_COLUMNS} FROM (SELECT {qualifies} AS ok) q"
        f" LEFT JOIN (({ids}) o STRAIGHT_JOIN products p ON p.id = o.id) ON q.ok = 1"
        f" ORDER BY o.k {direction}, o.id {direction}"
    )
    rows = tuples(conn, Statement(sql, {**where.params, "words": escape_like(term) + "%"}))
    reads.statements += 1
    reads.lookups += 2 * (most_words + 1) + len(rows)
    if not rows or not rows[0][0]:
        reads.steps.append("rare term: declined")
        return None
    page = [ProductRow(*row[1:]) for row in rows if row[1] is not None]
    reads.steps.append(f"rare term {len(page)}")
    return page
