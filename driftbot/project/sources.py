"""Where a model-side object is declared: file and line of the mapped class and attribute.

Each models file is parsed once (with `ast`), and only the tables that have findings are
looked up: `inspect.getsourcelines` would re-parse the whole file for every class.
"""

from __future__ import annotations

import ast
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import Mapper

from driftbot.compare.findings import Finding, SourceLocation

log = logging.getLogger(__name__)

SourceKey = tuple[str, ...]  # (schema, table) or (schema, table, column)


@dataclass(frozen=True)
class _ClassSource:
    line: int
    attributes: dict[str, int]  # attribute name -> line


def _mappers() -> list[Mapper[object]]:
    try:  # the registry of every declarative registry: private, so guarded
        from sqlalchemy.orm.mapper import _mapper_registries
    except ImportError:  # pragma: no cover - depends on the SQLAlchemy version
        return []
    return [m for registry in list(_mapper_registries) for m in registry.mappers]


@cache
def _classes_in(file: str) -> dict[str, _ClassSource]:
    """qualified class name -> where it and its attributes are, for every class in `file`."""
    try:
        with open(file, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), file)
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[str, _ClassSource] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                attributes: dict[str, int] = {}
                for stmt in node.body:
                    targets = (
                        stmt.targets
                        if isinstance(stmt, ast.Assign)
                        else [stmt.target]
                        if isinstance(stmt, ast.AnnAssign)
                        else []
                    )
                    attributes.update({t.id: stmt.lineno for t in targets if isinstance(t, ast.Name)})
                found[prefix + node.name] = _ClassSource(node.lineno, attributes)
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def locate_sources(
    metadatas: Iterable[MetaData], default_schema: str, wanted: set[tuple[str, str]]
) -> dict[SourceKey, SourceLocation]:
    """Sources of the mapped classes of the `wanted` (schema, table)s and of their columns."""
    tables = {id(t) for md in metadatas for t in md.tables.values() if (t.schema or default_schema, t.name) in wanted}
    found: dict[SourceKey, SourceLocation] = {}
    for mapper in _mappers():
        table = mapper.local_table
        if not isinstance(table, Table) or id(table) not in tables:
            continue
        cls = mapper.class_
        file = getattr(sys.modules.get(cls.__module__), "__file__", None)
        where = _classes_in(file).get(cls.__qualname__) if file else None
        if file is None or where is None:
            continue
        key = (table.schema or default_schema, table.name)
        found[key] = SourceLocation(file, where.line, cls.__name__)
        for column in table.columns:
            try:
                attr = mapper.get_property_by_column(column).key
            except Exception:  # a column not mapped to an attribute
                continue
            line = where.attributes.get(attr)
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
