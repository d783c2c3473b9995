"""Token fetches: when, latency, outcome and expiry of every provider call; never the token.

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
        CREATE TABLE token_fetches (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            fetched_at DATETIME(6) NOT NULL,
            audience VARCHAR(255) NOT NULL,
            scope VARCHAR(255) NOT NULL,
            outcome VARCHAR(32) NOT NULL,
            http_status SMALLINT NULL,
            latency_ms INT NOT NULL,
            expires_at DATETIME(6) NULL,
            fingerprint CHAR(19) NULL,
            error VARCHAR(255) NULL,
            PRIMARY KEY (id),
            KEY ix_token_fetches_fetched_at (fetched_at)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE token_fetches")
