"""A private, migrated catalog schema for the listing tests, so other suites' rows never mix in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from farmlokal_common.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "catalog_service" / "migrations"


def schema_url(root_url: str, schema: str) -> str:
    return make_url(root_url).set(database=schema).render_as_string(hide_password=False)


def create_schema(root_url: str, schema: str) -> str:
    admin = create_engine(root_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{schema}`"))
        conn.execute(text(f"CREATE DATABASE `{schema}` CHARACTER SET utf8mb4"))
    admin.dispose()
    url = schema_url(root_url, schema)
    upgrade(MIGRATIONS, url)
    return url


@pytest.fixture(scope="session")
def listing_url(mariadb) -> str:
    return create_schema(mariadb.root_url, "listing_tests")


@pytest.fixture(scope="session")
def listing_engine(listing_url: str) -> Iterator[Engine]:
    engine = create_engine(listing_url)
    yield engine
    engine.dispose()


TABLES = ("search_postings", "product_search", "search_words", "category_counts", "products")


def clear(engine: Engine) -> None:
    from catalog_service.search import build

    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        build.rebuild(conn)  # the search bitmaps and buckets of an empty catalog
