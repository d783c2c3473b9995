"""Products with their listing indexes, the outbox of catalog changes.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE products (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            external_id VARCHAR(64) NULL,
            name VARCHAR(200) NOT NULL,
            description TEXT NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(10, 2) NOT NULL,
            stock INT NOT NULL DEFAULT 0,
            created_at DATETIME(6) NOT NULL,
            updated_at DATETIME(6) NOT NULL,
            PRIMARY KEY (id),
            UNIQUE KEY uq_products_external_id (external_id),
            -- One index per (filter prefix, sort): the sort column then id (the tie-break) give the
            -- keyset order; a trailing price lets a price range be checked on index entries when the
            -- sort is another column, and the price indexes carry the other sort keys so that a
            -- narrow price range is read and sorted without row lookups. Chosen by measurement on
            -- 1M rows: docs/catalog-queries.md.
            KEY ix_products_created (created_at, id, price),
            KEY ix_products_price (price, id, created_at, name),
            KEY ix_products_name (name, id, price),
            KEY ix_products_cat_created (category, created_at, id, price),
            KEY ix_products_cat_price (category, price, id, created_at, name),
            KEY ix_products_cat_name (category, name, id, price)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
        """
    )
    op.execute(
        """
        CREATE TABLE catalog_outbox (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            event_type VARCHAR(32) NOT NULL,
            product_id BIGINT UNSIGNED NOT NULL,
            payload JSON NOT NULL,
            created_at DATETIME(6) NOT NULL,
            relayed_at DATETIME(6) NULL,
            PRIMARY KEY (id),
            KEY ix_outbox_unrelayed (relayed_at, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE catalog_outbox")
    op.execute("DROP TABLE products")
