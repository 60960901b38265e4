"""Stage 3, database O, continued: the objects a project declares beside its tables (issue 12, item 2).

Models cannot declare views, functions, triggers or policies, but two libraries let a project
declare them next to its models, and then the models' side has an opinion on exactly those:
- alembic_utils: `ReplaceableEntity`s (PGView, PGFunction, PGTrigger, PGPolicy, ...) handed to
  `register_entities`, kept in `alembic_utils.replaceable_entity.registry`;
- sqlalchemy-declarative-extensions: `declare_database(metadata, views=..., functions=...)`,
  kept in `metadata.info` (and `@view` classes), created by the library's own DDL handlers.
Both registries are read only when the project imported the library (env.py or its models did).
They are created on O after `create_all`; what that adds to O's catalog, as the server names it,
is what the models declare (`declared`): diff.py compares those objects and no others.
Roles, grants and schemas of declarative-extensions are left out: roles are the cluster's, not a
scratch database's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError

from driftbot.compare.findings import Finding
from driftbot.compare.kinds import ANY_OBJECT
from driftbot.compare.objects import read_objects
from driftbot.safety.sqlnames import text_escaped

log = logging.getLogger(__name__)

ObjectKey = tuple[str, str]  # (objects.py type, dotted path)
# (what it is, for messages; how it is made on a connection)
Declaration = tuple[str, Callable[[Connection], None]]


@dataclass(frozen=True)
class Declared:
    keys: tuple[ObjectKey, ...]  # what the declarations made on O
    rejected: tuple[Finding, ...]  # what PostgreSQL refused of them


def declarations(metadatas: Iterable[MetaData]) -> list[Declaration]:
    """Every object the project declares through either library, declarative-extensions' first: its
    handlers compare with what exists and would drop what they were not told about."""
    return _declarative_extensions(tuple(metadatas)) + _alembic_utils()


def forget_declarations() -> None:
    """alembic_utils keeps its registry in its own (installed, so kept) module: a project's entities
    would otherwise stay registered, and its autogenerate comparator would put them into the next
    project's suggestion in the same process."""
    module = sys.modules.get("alembic_utils.replaceable_entity")
    if module is not None:
        module.registry.clear()


def _alembic_utils() -> list[Declaration]:
    module = sys.modules.get("alembic_utils.replaceable_entity")
    if module is None:
        return []
    found: list[Declaration] = []
    for entity in module.registry.entities():
        label = f"{type(entity).__name__} {entity.identity}"
        found.append((label, partial(_create_entity, entity)))
    return found


# the library's handlers, in an order where what a view or trigger uses exists first; views are made
# from their own CREATE statements (the library's handler compares with sqlglot, an extra)
_DECLARATIVE = (
    ("functions", "function.ddl", "function_ddl", "Functions"),
    ("procedures", "procedure.ddl", "procedure_ddl", "Procedures"),
    ("views", "", "", "Views"),
    ("triggers", "trigger.ddl", "trigger_ddl", "Triggers"),
)


def _declarative_extensions(metadatas: tuple[MetaData, ...]) -> list[Declaration]:
    if "sqlalchemy_declarative_extensions" not in sys.modules:
        return []
    import importlib

    package = "sqlalchemy_declarative_extensions"
    root = importlib.import_module(package)
    found: list[Declaration] = []
    for md in metadatas:
        for what, module, handler, collection in _DECLARATIVE:
            declared = getattr(root, collection).extract(md)
            if not declared or not getattr(declared, what, None):
                continue
            if what == "views":
                found += [
                    (f"declare_database view {v.qualified_name}", partial(_create_view, v)) for v in declared.views
                ]
                continue
            ddl = getattr(importlib.import_module(f"{package}.{module}"), handler)(declared)
            found.append((f"declare_database {what}", partial(_run_handler, ddl, md)))
    return found


def _create_entity(entity: Any, conn: Connection) -> None:
    conn.execute(entity.to_sql_statement_create())  # a text() clause, its colons escaped by alembic_utils


def _run_handler(handler: Callable[..., None], metadata: MetaData, conn: Connection) -> None:
    handler(metadata, conn)


def _create_view(view: Any, conn: Connection) -> None:
    for statement in view.to_sql_create(conn.dialect):
        conn.execute(text(text_escaped(statement)))


def create_declared(conn: Connection, made: list[Declaration], before: set[ObjectKey]) -> Declared:
    """Make each declaration on O in a savepoint, round by round (a view may name a function
    declared after it); what the server still refuses is a `model_rejected` finding. `before`:
    O's objects before `create_all` (declarative-extensions' own events may have made some)."""
    todo = list(made)
    errors: dict[str, str] = {}
    while todo:
        failed = [d for d in todo if not _attempt(conn, d, errors)]
        if len(failed) == len(todo):
            break
        todo = failed
    keys = object_keys(conn) - before
    rejected = tuple(_rejected(label, errors[label]) for label, _ in todo if label in errors)
    return Declared(tuple(sorted(keys)), rejected)


def object_keys(conn: Connection) -> set[ObjectKey]:
    """The objects of objects.py's kinds on `conn`'s database, as their paths name them."""
    driver = conn.connection.driver_connection

    def rows(sql: str) -> list[Any]:
        with driver.cursor(row_factory=namedtuple_row) as cur:  # type: ignore[union-attr]
            found: list[Any] = cur.execute(sql).fetchall()
            return found

    return {(kind, path) for kind, by_path in read_objects(rows).items() for path in by_path}


_EXISTS = {"42P07", "42723", "42710"}  # duplicate_table, duplicate_function, duplicate_object


def _attempt(conn: Connection, declaration: Declaration, errors: dict[str, str]) -> bool:
    label, make = declaration
    try:
        with conn.begin_nested():
            make(conn)
    except Exception as exc:  # the project's declaration, refused by the server or by its library
        if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _EXISTS:
            return True  # made by create_all already (the library's own events)
        errors[label] = str(exc.orig).strip() if isinstance(exc, DBAPIError) else f"{type(exc).__name__}: {exc}"
        log.debug("%s: %s", label, errors[label])
        return False
    errors.pop(label, None)
    return True


def _rejected(label: str, error: str) -> Finding:
    return Finding(
        "model_rejected",
        label,
        "high",
        migrations=None,
        models=None,
        detail=f"PostgreSQL rejected this object the project declares: {error}",
        object_type=ANY_OBJECT,
        name=label,
    )
