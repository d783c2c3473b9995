"""A page's statement runs on the DBAPI cursor (listing.execution.tuples) and keeps what SQLAlchemy's execute gave
it: the same rows, the statement's time limit, and a lost connection's error as a DBAPIError that
invalidated the connection, so the ReadRouter answers the read on a fresh one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from catalog_service.listing import reader
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import ProductReader
from catalog_service.listing.statements import Plan, page
from catalog_service.read_routing import ReadRouter
from farmlokal_common import request_context
from farmlokal_common.db import make_engine
from farmlokal_common.settings import ServiceSettings
from tests.integration.listing.conftest import clear
from tests.integration.listing.listing_data import insert

QUERIES = [
    ListQuery(limit=5),
    ListQuery(limit=5, sort="price", order="asc", min_price=Decimal("2.00"), max_price=Decimal("6.00")),
    ListQuery(limit=3, category="Fruits", sort="name", order="asc"),
]


@pytest.fixture
def reads(listing_engine: Engine, listing_url: str) -> Iterator[Engine]:
    clear(listing_engine)
    moment = dt.datetime(2025, 1, 2, 3, 4, 5)
    insert(
        listing_engine,
        [
            {
                "external_id": None,
                "name": f"Mango {i}",
                "description": "ripe",
                "category": "Fruits" if i % 2 else "Vegetables",
                "price": Decimal(i),
                "stock": i,
                "created_at": moment + dt.timedelta(minutes=i, microseconds=i * 1000),
                "updated_at": moment,
            }
            for i in range(1, 13)
        ],
    )
    engine = make_engine(listing_url, ServiceSettings(), read_only=True, pool_name="page_statement_test")
    yield engine
    engine.dispose()


def test_the_page_rows_are_those_of_sqlalchemys_execute(reads: Engine) -> None:
    with reads.connect() as conn:
        for query in QUERIES:
            statement = page(query, Plan.SCAN, query.limit + 1)
            expected = [tuple(row) for row in conn.execute(text(statement.sql), statement.params)]
            assert expected, query
            assert reader.run_plan(conn, query, Plan.SCAN, query.limit + 1) == expected


def test_the_page_statement_carries_the_served_calls_time_limit(reads: Engine) -> None:
    sent: list[str] = []
    event.listen(reads, "after_cursor_execute", lambda _c, _cur, statement, *_: sent.append(statement))
    token = request_context.bind("page-statement", "/test/List", lambda: 0.9)  # 0.9 s left
    try:
        with reads.connect() as conn:
            reader.run_plan(conn, QUERIES[0], Plan.SCAN, 6)
    finally:
        request_context.unbind(token)
    assert len(sent) == 1
    assert sent[0].startswith("SET STATEMENT max_statement_time=0.700 FOR SELECT")  # minus the margin


def test_a_lost_connection_is_a_dbapi_error_and_the_read_is_answered_on_a_fresh_one(
    reads: Engine, listing_url: str
) -> None:
    admin = create_engine(listing_url, pool_size=1)
    products = ProductReader(ReadRouter(reads))
    try:
        with reads.connect() as conn:
            pooled = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
            with admin.connect() as other:
                other.execute(text(f"KILL CONNECTION {pooled}"))
            with pytest.raises(DBAPIError) as lost:
                reader.run_plan(conn, QUERIES[0], Plan.SCAN, 6)
        assert lost.value.connection_invalidated

        with reads.connect() as conn:
            pooled = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
        with admin.connect() as other:
            other.execute(text(f"KILL CONNECTION {pooled}"))
        assert [p.name for p in products.list_page(QUERIES[0], "").products] == [
            f"Mango {i}" for i in range(12, 7, -1)
        ]
    finally:
        admin.dispose()
