"""Search bitmaps: exact candidate sets per word, heavy prefix and category, and sort buckets.

See catalog_service/search/ and docs/catalog-queries.md ("Search with a bounded worst case").
A database that already holds products gets the structures built here (catalog_service.search.build),
so the search plan that relies on them is exact from the first request after the upgrade.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per (set, 65536-id container): the members of the set whose id >> 16 = hi, as a
    # serialized Roaring bitmap (pyroaring). kind 0 = a word (search_words.id), 1 = a heavy prefix
    # (search_prefixes.id), 2 = a category (search_categories.id).
    op.execute(
        """
        CREATE TABLE search_bitmaps (
            kind TINYINT UNSIGNED NOT NULL,
            set_id INT UNSIGNED NOT NULL,
            hi INT UNSIGNED NOT NULL,
            members INT NOT NULL,
            bits MEDIUMBLOB NOT NULL,
            PRIMARY KEY (kind, set_id, hi)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # Prefixes (3+ characters) that start more than search.bitmaps.PREFIX_MAX_WORDS words: a term
    # reads one such bitmap instead of one per word.
    op.execute(
        """
        CREATE TABLE search_prefixes (
            id INT UNSIGNED NOT NULL AUTO_INCREMENT,
            prefix VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            PRIMARY KEY (id),
            UNIQUE KEY uq_search_prefixes_prefix (prefix)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # One set per category as the filter compares it (utf8mb4_unicode_ci: "Fruits" = "FRUITS").
    op.execute(
        """
        CREATE TABLE search_categories (
            id INT UNSIGNED NOT NULL AUTO_INCREMENT,
            category VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
            PRIMARY KEY (id),
            UNIQUE KEY uq_search_categories_category (category)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # Sort buckets: for each sort key, consecutive ranges of the (key, id) order, each holding about
    # search.buckets.BUCKET_SIZE products (split at twice that), with the members as a bitmap. A
    # bucket holds the products from its (lo, lo_id) up to the next bucket's. Only the lo column of
    # its own sort is set; every sort has a first bucket at the lowest possible position.
    op.execute(
        """
        CREATE TABLE search_buckets (
            id INT UNSIGNED NOT NULL AUTO_INCREMENT,
            sort_key TINYINT UNSIGNED NOT NULL,
            lo_created DATETIME(6) NULL,
            lo_price DECIMAL(10, 2) NULL,
            lo_name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
            lo_id BIGINT UNSIGNED NOT NULL,
            members INT NOT NULL,
            bits MEDIUMBLOB NOT NULL,
            PRIMARY KEY (id),
            KEY ix_search_buckets_created (sort_key, lo_created, lo_id),
            KEY ix_search_buckets_price (sort_key, lo_price, lo_id),
            KEY ix_search_buckets_name (sort_key, lo_name, lo_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # Writers hold a shared lock on their sort's row while they place products in buckets; a bucket
    # split takes it exclusively, so no writer places a product by boundaries that are changing.
    op.execute(
        """
        CREATE TABLE search_bucket_locks (
            sort_key TINYINT UNSIGNED NOT NULL,
            PRIMARY KEY (sort_key)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute("INSERT INTO search_bucket_locks (sort_key) VALUES (0), (1), (2)")
    # The bucket each product is in, per sort key, so that a change of key moves it.
    op.execute(
        """
        CREATE TABLE search_product_buckets (
            product_id BIGINT UNSIGNED NOT NULL,
            b_created INT UNSIGNED NOT NULL,
            b_price INT UNSIGNED NOT NULL,
            b_name INT UNSIGNED NOT NULL,
            PRIMARY KEY (product_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    from catalog_service.search import build

    build.rebuild(op.get_bind())


def downgrade() -> None:
    for table in (
        "search_product_buckets",
        "search_bucket_locks",
        "search_buckets",
        "search_categories",
        "search_prefixes",
        "search_bitmaps",
    ):
        op.execute(f"DROP TABLE {table}")
