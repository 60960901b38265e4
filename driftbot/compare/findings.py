"""The Finding value: one difference between what the migrations build and what the models declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["high", "low", "info"]
# `detect`: why the live database differs (see detect.py)
Classification = Literal["pending_migration", "changed_outside_migrations", "models_ahead_of_migrations"]


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int
    symbol: str  # "Order" or "Order.note"


@dataclass(frozen=True)
class Finding:
    """`missing`: the models declare it, the migrations don't build it; `extra`: the reverse."""

    kind: str  # e.g. "column_type_changed"
    object: str  # dotted path: "public.orders.note"
    severity: Severity
    migrations: str | None  # PostgreSQL's definition in the database the migrations build
    models: str | None  # ... and in the database the models build
    detail: str = ""
    object_type: str = ""  # Alembic's vocabulary for include_object: table, column, index, ...
    schema: str | None = None
    table: str | None = None
    name: str | None = None  # the column / index / constraint / type name
    source: SourceLocation | None = None
    classification: Classification | None = None  # `detect` only
    live: str | None = None  # `detect` only: the live database's definition (None: it has no such object)

    @property
    def is_drift(self) -> bool:
        return self.severity != "info"
