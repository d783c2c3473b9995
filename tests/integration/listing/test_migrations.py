"""Revision 0004 gives a database migrated with the first 0001 the covering price indexes."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from farmlokal_common.migrations import upgrade
from tests.integration.listing.conftest import MIGRATIONS, schema_url


def index_columns(url: str, index: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT column_name FROM information_schema.statistics WHERE table_schema = DATABASE()"
                " AND table_name = 'products' AND index_name = :i ORDER BY seq_in_index"
            ),
            {"i": index},
        ).fetchall()
    engine.dispose()
    return [str(r[0]) for r in rows]


def test_old_price_indexes_become_covering_and_current_ones_are_left_alone(mariadb) -> None:
    admin = create_engine(mariadb.root_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS migration_tests"))
        conn.execute(text("CREATE DATABASE migration_tests CHARACTER SET utf8mb4"))
    admin.dispose()
    url = schema_url(mariadb.root_url, "migration_tests")
    upgrade(MIGRATIONS, url, "0003")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # the shape the first 0001 created
        conn.execute(
            text(
                "ALTER TABLE products DROP INDEX ix_products_price, DROP INDEX ix_products_cat_price,"
                " ADD INDEX ix_products_price (price, id), ADD INDEX ix_products_cat_price (category, price, id)"
            )
        )
    engine.dispose()
    upgrade(MIGRATIONS, url)
    assert index_columns(url, "ix_products_price") == ["price", "id", "created_at", "name"]
    assert index_columns(url, "ix_products_cat_price") == ["category", "price", "id", "created_at", "name"]
