"""Where a model-side object is declared: file and line of the mapped class and attribute."""

from __future__ import annotations

import ast
import inspect
import logging
from collections.abc import Iterable
from dataclasses import replace
from functools import cache

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import Mapper

from driftbot.findings import Finding, SourceLocation

log = logging.getLogger(__name__)

SourceKey = tuple[str, ...]  # (schema, table) or (schema, table, column)


def _mappers() -> list[Mapper[object]]:
    try:  # the registry of every declarative registry: private, so guarded
        from sqlalchemy.orm.mapper import _mapper_registries
    except ImportError:  # pragma: no cover - depends on the SQLAlchemy version
        return []
    return [m for registry in list(_mapper_registries) for m in registry.mappers]


@cache
def _class_body_lines(file: str, class_line: int) -> dict[str, int]:
    """attribute name -> line, for the class that starts at `class_line` in `file`."""
    try:
        with open(file, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), file)
    except (OSError, SyntaxError, ValueError):
        return {}
    for node in ast.walk(tree):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) \
            if isinstance(node, ast.ClassDef) else -1
        if isinstance(node, ast.ClassDef) and class_line in (node.lineno, first):
            lines: dict[str, int] = {}
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                    [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                lines.update({t.id: stmt.lineno for t in targets if isinstance(t, ast.Name)})
            return lines
    return {}


def locate_sources(metadatas: Iterable[MetaData], default_schema: str) -> dict[SourceKey, SourceLocation]:
    tables = {id(t) for md in metadatas for t in md.tables.values()}
    found: dict[SourceKey, SourceLocation] = {}
    for mapper in _mappers():
        table = mapper.local_table
        if not isinstance(table, Table) or id(table) not in tables:
            continue
        cls = mapper.class_
        try:
            file = inspect.getsourcefile(cls)
            class_line = inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            continue
        if not file:
            continue
        key = (table.schema or default_schema, table.name)
        found[key] = SourceLocation(file, class_line, cls.__name__)
        attributes = _class_body_lines(file, class_line)
        for column in table.columns:
            try:
                attr = mapper.get_property_by_column(column).key
            except Exception:
                continue
            line = attributes.get(attr)
            if line is not None:
                found[(*key, column.name)] = SourceLocation(file, line, f"{cls.__name__}.{attr}")
    return found


def with_source(finding: Finding, sources: dict[SourceKey, SourceLocation]) -> Finding:
    """The finding with the model-side source attached, when the models declare the object."""
    if finding.models is None or finding.schema is None or finding.table is None:
        return finding
    key: SourceKey = (finding.schema, finding.table)
    location = sources.get((*key, finding.name or "")) if finding.object_type == "column" else None
    location = location or sources.get(key)
    if location is None:
        return finding
    return replace(finding, source=location)
