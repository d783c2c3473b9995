"""Supplier sync: the incremental watermark per supplier and the record of every sync run.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The supplier's own updated_at of the last product applied (its clock, never ours).
    op.execute(
        """
        CREATE TABLE supplier_sync_state (
            supplier VARCHAR(64) NOT NULL,
            watermark DATETIME(6) NULL,
            updated_at DATETIME(6) NOT NULL,
            PRIMARY KEY (supplier)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute(
        """
        CREATE TABLE supplier_sync_runs (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            supplier VARCHAR(64) NOT NULL,
            trigger_kind VARCHAR(16) NOT NULL,
            mode VARCHAR(16) NOT NULL,
            started_at DATETIME(6) NOT NULL,
            finished_at DATETIME(6) NOT NULL,
            fetched INT NOT NULL,
            created INT NOT NULL,
            updated INT NOT NULL,
            unchanged INT NOT NULL,
            failed INT NOT NULL,
            duration_ms INT NOT NULL,
            breaker_state VARCHAR(16) NOT NULL,
            error VARCHAR(500) NOT NULL DEFAULT '',
            PRIMARY KEY (id),
            KEY ix_supplier_sync_runs_latest (supplier, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE supplier_sync_runs")
    op.execute("DROP TABLE supplier_sync_state")
