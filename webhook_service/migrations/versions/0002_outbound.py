"""Processing leases for inbound events; subscriptions, catalog events, deliveries and their attempts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE inbound_events ADD COLUMN lease_owner CHAR(32) NULL AFTER lease_expires_at")
    op.execute("CREATE INDEX ix_inbound_lease ON inbound_events (status, lease_expires_at)")
    op.execute(
        """
        CREATE TABLE subscriptions (
            id CHAR(32) NOT NULL,
            url VARCHAR(2048) NOT NULL,
            event_types JSON NOT NULL,
            description VARCHAR(500) NOT NULL DEFAULT '',
            secret VARCHAR(128) NOT NULL,
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            disabled_reason VARCHAR(255) NULL,
            created_at DATETIME(6) NOT NULL,
            PRIMARY KEY (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute(
        """
        CREATE TABLE catalog_events (
            outbox_id BIGINT UNSIGNED NOT NULL,
            type VARCHAR(64) NOT NULL,
            payload JSON NOT NULL,
            occurred_at DATETIME(6) NOT NULL,
            received_at DATETIME(6) NOT NULL,
            PRIMARY KEY (outbox_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute(
        """
        CREATE TABLE deliveries (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            subscription_id CHAR(32) NOT NULL,
            outbox_id BIGINT UNSIGNED NOT NULL,
            event_type VARCHAR(64) NOT NULL,
            status ENUM('pending','delivering','succeeded','failed','dead') NOT NULL DEFAULT 'pending',
            attempts INT NOT NULL DEFAULT 0,
            next_attempt_at DATETIME(6) NOT NULL,
            lease_expires_at DATETIME(6) NULL,
            lease_owner CHAR(32) NULL,
            created_at DATETIME(6) NOT NULL,
            PRIMARY KEY (id),
            UNIQUE KEY uq_delivery (subscription_id, outbox_id),
            KEY ix_delivery_due (status, next_attempt_at),
            KEY ix_delivery_lease (status, lease_expires_at),
            CONSTRAINT fk_delivery_subscription FOREIGN KEY (subscription_id)
                REFERENCES subscriptions (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )
    op.execute(
        """
        CREATE TABLE delivery_attempts (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
            delivery_id BIGINT UNSIGNED NOT NULL,
            attempted_at DATETIME(6) NOT NULL,
            status_code SMALLINT NULL,
            latency_ms INT NOT NULL,
            error VARCHAR(255) NULL,
            PRIMARY KEY (id),
            KEY ix_attempts_delivery (delivery_id, id),
            CONSTRAINT fk_attempt_delivery FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """
    )


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "catalog_events", "subscriptions"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP INDEX ix_inbound_lease ON inbound_events")
    op.execute("ALTER TABLE inbound_events DROP COLUMN lease_owner")
