"""index orders by placed_at (a hotfix the models never learned about)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-12 08:15:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_placed_at", "orders", ["placed_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_placed_at", table_name="orders")
