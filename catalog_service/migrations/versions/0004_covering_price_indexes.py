"""The price indexes carry created_at and name, so a narrow price range is sorted without row lookups.

Revision 0001 was edited to define them this way after some databases had already applied it; those
still have `(price, id)` and `(category, price, id)`. This revision rebuilds an index only where its
columns differ, so on a database created from the current 0001 it does nothing.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COVERING = {
    "ix_products_price": ("price", "id", "created_at", "name"),
    "ix_products_cat_price": ("category", "price", "id", "created_at", "name"),
}


def _columns(index: str) -> tuple[str, ...]:
    rows = op.get_bind().execute(
        text(
            "SELECT column_name FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = 'products' AND index_name = :index"
            " ORDER BY seq_in_index"
        ),
        {"index": index},
    )
    return tuple(str(row[0]).lower() for row in rows)


def upgrade() -> None:
    changes = []
    for index, columns in COVERING.items():
        present = _columns(index)
        if present == columns:
            continue
        if present:
            changes.append(f"DROP INDEX {index}")
        changes.append(f"ADD INDEX {index} ({', '.join(columns)})")
    if changes:
        op.execute(f"ALTER TABLE products {', '.join(changes)}")


def downgrade() -> None:
    pass  # 0001 defines these indexes; there is no earlier shape to return to
