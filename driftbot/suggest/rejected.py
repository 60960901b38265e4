"""Model objects PostgreSQL rejects stay out of the suggested migration, and out of its verification.

The models' database O never has them (each is a `model_rejected` finding), but autogenerate compares
the database with the Python metadata and emits them anyway: mlflow's FK to a non-unique column and its
index with no columns made the whole suggestion fail at `upgrade`. Their ops are removed from the
revision, drift on the same objects (M's index of that name then shows as "extra") is not the
suggestion's to fix, and the verification says which objects it left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from alembic.operations import ops
from sqlalchemy import ForeignKeyConstraint

from driftbot.compare.findings import Finding


def rejected_objects(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The dotted paths of the model objects PostgreSQL refused, sorted."""
    return tuple(sorted({f.object for f in findings if f.kind == "model_rejected"}))


def on_rejected(obj: str, rejected: Collection[str]) -> bool:
    """`obj` is a rejected object or part of one (a rejected table's column, index, ...)."""
    return any(obj == r or obj.startswith(r + ".") for r in rejected)


def without_rejected(findings: Iterable[Finding], rejected: Collection[str]) -> list[Finding]:
    return [f for f in findings if not on_rejected(f.object, rejected)]


def left_out_note(rejected: Sequence[str]) -> str:
    """What the verification says about them ("" when there are none)."""
    if not rejected:
        return ""
    what = "1 model object" if len(rejected) == 1 else f"{len(rejected)} model objects"
    return f"except {what} PostgreSQL rejects, left out of the migration: {', '.join(rejected)}"


def fk_name(table: str, columns: Iterable[str]) -> str:
    """The name PostgreSQL gives an unnamed foreign key (models_db names rejected ones the same way)."""
    return f"{table}_{'_'.join(columns)}_fkey"


def drop_rejected_ops(
    op_tree: list[Any],
    rejected: Collection[str],
    default_schema: str,
    parent: tuple[str | None, str | None] = (None, None),
) -> list[Any]:
    """`op_tree` without the ops that create, drop or alter a rejected object (batch groups included)."""
    if not rejected:
        return op_tree
    kept: list[Any] = []
    for op in op_tree:
        if isinstance(op, ops.ModifyTableOps):
            op.ops = drop_rejected_ops(op.ops, rejected, default_schema, (op.schema, op.table_name))
            if op.ops:
                kept.append(op)
            continue
        path = _path(op, default_schema, parent)
        if path is not None and on_rejected(path, rejected):
            continue
        if isinstance(op, ops.CreateTableOp):
            _drop_rejected_foreign_keys(op, rejected, default_schema)
        kept.append(op)
    return kept


def _path(op: Any, default_schema: str, parent: tuple[str | None, str | None]) -> str | None:
    """The dotted path (as models_db names rejected objects) of what `op` changes."""
    schema = getattr(op, "schema", None) or parent[0] or default_schema
    if isinstance(op, ops.CreateForeignKeyOp):
        schema = op.kw.get("source_schema") or parent[0] or default_schema
        name = str(op.constraint_name) if op.constraint_name is not None else fk_name(op.source_table, op.local_cols)
        return f"{schema}.{op.source_table}.{name}"
    table = getattr(op, "table_name", None) or parent[1]
    if table is None:
        return None
    if isinstance(op, (ops.CreateIndexOp, ops.DropIndexOp)):
        return f"{schema}.{table}.{op.index_name}"
    if isinstance(op, (ops.AddColumnOp, ops.DropColumnOp)):
        return f"{schema}.{table}.{op.column.name if isinstance(op, ops.AddColumnOp) else op.column_name}"
    if isinstance(op, ops.AlterColumnOp):
        return f"{schema}.{table}.{op.column_name}"
    if isinstance(op, (ops.CreateTableOp, ops.DropTableOp)):
        return f"{schema}.{table}"
    return None


def _drop_rejected_foreign_keys(op: ops.CreateTableOp, rejected: Collection[str], default_schema: str) -> None:
    """A new table keeps its columns, without the foreign keys PostgreSQL rejected."""
    prefix = f"{op.schema or default_schema}.{op.table_name}."

    def rejected_fk(item: Any) -> bool:
        if not isinstance(item, ForeignKeyConstraint):
            return False
        name = item.name if isinstance(item.name, str) else fk_name(op.table_name, item.column_keys)
        return on_rejected(prefix + name, rejected)

    op.columns = [c for c in op.columns if not rejected_fk(c)]
