"""Search index (vocabulary with document frequencies, postings, per-product words) and category counts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The words of each product as indexed (search_text: " word word ..." for LIKE '% term%' tests)
    # and the category it was counted under, so a change can be applied as a difference.
    op.execute(
        """
        CREATE TABLE product_search (
            product_id BIGINT UNSIGNED NOT NULL,
            category VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
            search_text TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            PRIMARY KEY (product_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # Every indexed word with the number of products containing it; postings exist only for words
    # with has_postings = 1 (all but the very common ones, which a scan in sort order finds fast).
    op.execute(
        """
        CREATE TABLE search_words (
            id INT UNSIGNED NOT NULL AUTO_INCREMENT,
            word VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            df INT NOT NULL DEFAULT 0,
            has_postings TINYINT(1) NOT NULL DEFAULT 1,
            PRIMARY KEY (id),
            UNIQUE KEY uq_search_words_word (word)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    # One row per (word, product) for words with postings. It carries the product's filter and
    # sort columns (same types and collations as products) so that a term's candidates are
    # filtered and sorted without touching products; only the page's rows are looked up.
    op.execute(
        """
        CREATE TABLE search_postings (
            word_id INT UNSIGNED NOT NULL,
            product_id BIGINT UNSIGNED NOT NULL,
            category VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
            price DECIMAL(10, 2) NOT NULL,
            created_at DATETIME(6) NOT NULL,
            name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
            PRIMARY KEY (word_id, product_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute(
        """
        CREATE TABLE category_counts (
            category VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
            product_count INT NOT NULL DEFAULT 0,
            PRIMARY KEY (category)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    for table in ("category_counts", "search_postings", "search_words", "product_search"):
        op.execute(f"DROP TABLE {table}")
