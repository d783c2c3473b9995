"""Inbound events with UNIQUE(source, event_id): the truth of idempotency.

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
        CREATE TABLE inbound_events (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            source VARCHAR(64) NOT NULL,
            event_id VARCHAR(255) NOT NULL,
            type VARCHAR(128) NOT NULL,
            payload LONGBLOB NOT NULL,
            status ENUM('pending','processing','processed','failed','dead') NOT NULL DEFAULT 'pending',
            attempts INT NOT NULL DEFAULT 0,
            last_error VARCHAR(1024) NULL,
            received_at DATETIME(6) NOT NULL,
            processed_at DATETIME(6) NULL,
            next_attempt_at DATETIME(6) NOT NULL,
            lease_expires_at DATETIME(6) NULL,
            PRIMARY KEY (id),
            UNIQUE KEY uq_inbound_source_event (source, event_id),
            KEY ix_inbound_claim (status, next_attempt_at),
            KEY ix_inbound_status_id (status, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE inbound_events")
