"""What the listing tests do beside the reader: force a plan, read a page by the planner's choice, and
write the next page's cursor as the transport does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from catalog_service.listing import reader
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import Page
from catalog_service.listing.statements import Plan
from catalog_service.listing.statistics import Statistics


def forced(conn: Connection, query: ListQuery, plan: Plan, fetch: int) -> list[Any]:
    """The rows of the given plan; POSTINGS is driven by the rarest term that has postings."""
    driver = None
    if plan is Plan.POSTINGS:
        indexed = [s for s in Statistics.terms(conn, query.terms) if s.indexed]
        if not indexed:
            raise ValueError("no search term of this query has postings")
        driver = Statistics.driver(conn, min(indexed, key=lambda s: s.df).term)
    return reader.run_plan(conn, query, plan, fetch, driver)


def chosen(conn: Connection, query: ListQuery, fetch: int) -> list[Any]:
    """The rows the reader's own choice gives (fresh statistics)."""
    return reader.page_rows(conn, query, fetch, Statistics())


def next_cursor(codec: CursorCodec, query: ListQuery, page: Page) -> str:
    position = page.last_position(query.sort)
    return codec.encode(query.binding(), position) if position is not None else ""
