"""Step 1 of the search plan: the exact candidate set M, from the terms' bitmaps, rarest first."""

from __future__ import annotations

from dataclasses import dataclass

from pyroaring import BitMap
from sqlalchemy import Connection, text

from catalog_service.listing.query import ListQuery
from catalog_service.listing.statements import escape_like
from catalog_service.search import bitmaps, limits
from catalog_service.search.bitmaps import (
    KIND_CATEGORY,
    KIND_PREFIX,
    KIND_WORD,
    Reads,
    SetKey,
    read_sets,
)


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
    """M, from the rarest term on; once M is small enough to be read by id (limits.DIRECT_MAX) the other
    terms are left to that read (at most limits.DIRECT_MAX rows tested), so a term never costs its
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
        if not members or (len(members) <= limits.DIRECT_MAX and n + 1 < len(terms)):
            untested = tuple(t.term for t in terms[n + 1 :]) if members else ()
            reads.steps.append(f"candidates {len(members)} after {n + 1} of {len(terms)} terms")
            return Candidates(members, untested)
    assert members is not None
    reads.steps.append(f"candidates {len(members)}")
    return Candidates(members, ())
