"""The shop's models, as they stand on a feature branch that forgot a migration or two."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, MetaData, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class OrderStatus(enum.Enum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"
    refunded = "refunded"  # new on this branch: no migration adds it


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(UUID, server_default=text("gen_random_uuid()"), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    # the migrations made this varchar(100); the models say 200
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_nonneg"),
        Index("ix_orders_open", "customer_id", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[OrderStatus] = mapped_column(Enum(OrderStatus, name="order_status"), server_default="pending")
    total: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2), server_default=text("0"))
    placed_at: Mapped[datetime.datetime] = mapped_column(
        server_default=func.now(), type_=__import__("sqlalchemy").DateTime(timezone=True)
    )
    # added to the model on this branch; nobody wrote the migration
    gift_message: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, object] | None] = mapped_column(JSONB)
