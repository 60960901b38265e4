"""The project's own `include_name` / `include_object` hooks, applied to findings.

Alembic hands these hooks SQLAlchemy objects; driftbot passes the models' object where the
models declare it (reflected=False) and a bare stand-in for what only the migrations build
(reflected=True), so hooks written for `alembic check` keep working unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, UniqueConstraint
from sqlalchemy.types import NullType

from driftbot.compare.findings import Finding
from driftbot.project.migrate import EnvOptions

log = logging.getLogger(__name__)

# Alembic calls include_object for these object types only.
ALEMBIC_TYPES = {"table", "column", "index", "unique_constraint", "foreign_key_constraint"}


class _ModelObjects:
    def __init__(self, metadatas: Iterable[MetaData], default_schema: str) -> None:
        self.tables = {(t.schema or default_schema, t.name): t for md in metadatas for t in md.tables.values()}

    def find(self, f: Finding) -> Any:
        table = self.tables.get((f.schema or "", f.table or ""))
        if table is None or f.object_type == "table":
            return table
        if f.object_type == "column":
            return table.c.get(f.name or "")
        if f.object_type == "index":
            return next((i for i in table.indexes if i.name == f.name), None)
        return next((c for c in table.constraints if c.name == f.name), None)


def _stand_in(f: Finding, schema: str | None) -> Any:
    table = Table(f.table or f.name or "", MetaData(), schema=schema)
    if f.object_type == "table":
        return table
    if f.object_type == "column":
        column = Column(f.name or "", NullType())
        table.append_column(column)
        return column
    if f.object_type == "index":
        return Index(f.name)
    return UniqueConstraint(name=f.name)


def apply_project_hooks(
    findings: list[Finding], options: EnvOptions, metadatas: Iterable[MetaData], default_schema: str
) -> list[Finding]:
    if options.include_name is None and options.include_object is None:
        return findings
    models = _ModelObjects(metadatas, default_schema)
    return [f for f in findings if _included(f, options, models, default_schema)]


def _included(f: Finding, options: EnvOptions, models: _ModelObjects, default_schema: str) -> bool:
    schema = None if f.schema == default_schema else f.schema
    if options.include_name is not None and f.schema is not None:
        if options.include_schemas and not options.include_name(schema, "schema", {}):
            return False
        if f.table is not None and not options.include_name(f.table, "table", {"schema_name": schema}):
            return False
        if f.object_type in ALEMBIC_TYPES - {"table"} and not options.include_name(
            f.name,
            f.object_type,
            {
                "schema_name": schema,
                "table_name": f.table,
                "schema_qualified_table_name": f"{schema}.{f.table}" if schema else f.table,
            },
        ):
            return False
    if options.include_object is None or f.object_type not in ALEMBIC_TYPES | {"check_constraint", "primary_key"}:
        return True
    if f.table is not None and f.object_type != "table":
        table_finding = Finding(
            "", "", "high", None, f.models, object_type="table", schema=f.schema, table=f.table, name=f.table
        )
        if not _call_include_object(table_finding, options, models, schema):
            return False
    if f.object_type not in ALEMBIC_TYPES:
        return True
    return _call_include_object(f, options, models, schema)


def _call_include_object(f: Finding, options: EnvOptions, models: _ModelObjects, schema: str | None) -> bool:
    assert options.include_object is not None
    model_obj = models.find(f)
    obj = model_obj if model_obj is not None else _stand_in(f, schema)
    reflected = model_obj is None
    name = f.table if f.object_type == "table" else f.name
    return bool(options.include_object(obj, name, f.object_type, reflected, None))
