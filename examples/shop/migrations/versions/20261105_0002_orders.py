"""orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-05 14:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

order_status = postgresql.ENUM("pending", "paid", "shipped", name="order_status")


def upgrade() -> None:
    order_status.create(op.get_bind())
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "status", postgresql.ENUM(name="order_status", create_type=False), server_default="pending", nullable=False
        ),
        sa.Column("total", sa.Numeric(10, 2), server_default="0", nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("extra", postgresql.JSONB(), nullable=True),
        sa.CheckConstraint("total >= 0", name=op.f("ck_orders_total_nonneg")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_orders_customer_id_customers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
    )
    op.create_index("ix_orders_open", "orders", ["customer_id"], postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index("ix_orders_open", table_name="orders")
    op.drop_table("orders")
    order_status.drop(op.get_bind())
