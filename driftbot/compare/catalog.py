"""Stage 3a: read a database's catalog into a plain snapshot, one query per kind of object.

Everything is rendered by PostgreSQL itself (format_type, pg_get_expr, pg_get_constraintdef,
pg_get_indexdef), so two snapshots taken on the same server compare as text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine

from driftbot.compare.equivalence import Constants, collect_constants, evaluate_constants
from driftbot.compare.objects import Dependencies, Objects, read_dependencies, read_objects

TableKey = tuple[str, str]  # (schema, table)

USER_SCHEMAS = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
"""
NOT_FROM_EXTENSION = """
    NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = {oid} AND e.deptype = 'e')
"""

TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMAS}
  AND {NOT_FROM_EXTENSION.format(oid="c.oid")}
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS expr, a.attidentity, a.attgenerated,
       col_description(a.attrelid, a.attnum) AS comment,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
       CASE WHEN a.attidentity <> '' THEN (
         SELECT format('START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s',
                       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
                       CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END)
         FROM pg_depend dep JOIN pg_sequence s ON s.seqrelid = dep.objid
         WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid = a.attrelid  -- pg_depend's index
           AND dep.refobjsubid = a.attnum AND dep.classid = 'pg_class'::regclass AND dep.deptype = 'i' LIMIT 1)
       END AS identity_options,
       -- the sequence a default calls, as (schema, name) from pg_depend: never parsed from its text
       CASE WHEN d.oid IS NOT NULL THEN (
         SELECT ARRAY[sn.nspname::text, sc.relname::text]
         FROM pg_depend sd JOIN pg_class sc ON sc.oid = sd.refobjid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
         WHERE sd.classid = 'pg_attrdef'::regclass AND sd.objid = d.oid  -- pg_depend's index
           AND sd.refclassid = 'pg_class'::regclass AND sc.relkind = 'S' ORDER BY sc.oid LIMIT 1)
       END AS default_sequence
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMAS}
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS_SQL = f"""
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid, true) AS definition,
       obj_description(con.oid, 'pg_constraint') AS comment
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND {USER_SCHEMAS}
"""

INDEXES_SQL = f"""
SELECT i.indrelid, ic.relname, quote_ident(ic.relname) AS quoted,
       pg_get_indexdef(i.indexrelid) AS definition, i.indisunique, am.amname,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       obj_description(i.indexrelid, 'pg_class') AS comment
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS}
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
"""

ENUMS_SQL = f"""
SELECT n.nspname, t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {USER_SCHEMAS} AND {NOT_FROM_EXTENSION.format(oid="t.oid")}
GROUP BY n.nspname, t.typname
"""

# Sequences owned by a column (serial, identity) belong to that column, not listed here.
SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname,
       format('AS %s START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s',
              format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
              s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END) AS definition
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMAS} AND NOT EXISTS (
    SELECT 1 FROM pg_depend dep WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
      AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i', 'e'))
"""

EXTENSIONS_SQL = """
SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
"""
SCHEMAS_SQL = f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None
    identity: str | None  # "GENERATED BY DEFAULT AS IDENTITY (START WITH 1 ...)"
    generated: str | None  # the expression of a GENERATED ALWAYS AS (...) STORED column
    comment: str | None
    collation: str | None
    default_sequence: TableKey | None = None  # (schema, name) of the sequence the default calls


@dataclass(frozen=True)
class Constraint:
    name: str
    type: str  # p u f c x
    definition: str
    comment: str | None = None


@dataclass(frozen=True)
class Index:
    name: str
    definition: str  # as pg_get_indexdef renders it, name included
    shape: str  # the definition without the index name: what matching by definition compares
    unique: bool
    method: str
    predicate: str | None
    comment: str | None = None


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    comment: str | None
    columns: Mapping[str, Column] = field(default_factory=dict)
    constraints: Mapping[str, Constraint] = field(default_factory=dict)
    indexes: Mapping[str, Index] = field(default_factory=dict)


@dataclass(frozen=True)
class EnumType:
    schema: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SequenceDef:
    schema: str
    name: str
    definition: str


@dataclass(frozen=True)
class Catalog:
    tables: Mapping[TableKey, Table]
    enums: Mapping[TableKey, EnumType]
    sequences: Mapping[TableKey, SequenceDef]
    schemas: tuple[str, ...] = ()
    extensions: tuple[tuple[str, str], ...] = ()  # (name, schema)
    # constants of the expressions above as this server evaluates them (equivalence.py)
    constants: Constants = field(default_factory=dict)
    # views, functions, triggers, policies, grants, ...: kind -> dotted path -> object (objects.py)
    objects: Objects = field(default_factory=dict)
    # the models' catalog: `objects` holds only what the project declares beside its models (alembic_utils,
    # declarative-extensions: project/declared.py), and those alone are compared against it (diff.py)
    declared_only: bool = False
    # among `objects` (undo.py's order): oids, which differ after a drop and re-create, so not compared
    dependencies: Dependencies = field(default_factory=Dependencies, compare=False)


def with_declared(catalog: Catalog, keys: Iterable[tuple[str, str]]) -> Catalog:
    """The models' catalog, its objects cut down to the declared (type, path) `keys`."""
    wanted = set(keys)
    objects = {
        kind: {p: o for p, o in by_path.items() if (kind, p) in wanted} for kind, by_path in catalog.objects.items()
    }
    return replace(catalog, objects={kind: by_path for kind, by_path in objects.items() if by_path}, declared_only=True)


def identity_text(kind: str, options: str | None) -> str | None:
    if not kind:
        return None
    when = "ALWAYS" if kind == "a" else "BY DEFAULT"
    return f"GENERATED {when} AS IDENTITY ({options})" if options else f"GENERATED {when} AS IDENTITY"


def read_catalog(conn: Connection, exclude: frozenset[TableKey] = frozenset()) -> Catalog:
    """Snapshot every user object in the database in a fixed number of queries, whatever its size."""

    driver = conn.connection.driver_connection  # psycopg's own rows: 15,000 of them at 1,000 tables

    def rows(sql: str) -> list[Any]:
        with driver.cursor(row_factory=namedtuple_row) as cur:  # type: ignore[union-attr]
            found: list[Any] = cur.execute(sql).fetchall()
            return found

    # a server's own default (jit = on) compiles these big catalog joins past ~1,500 tables:
    # compiling costs more than the query saves, every time
    rows("SELECT set_config('jit', 'off', false)")
    tables = _read_tables(rows, exclude)
    enums = {(r.nspname, r.typname): EnumType(r.nspname, r.typname, tuple(r.labels)) for r in rows(ENUMS_SQL)}
    sequences = {
        (r.nspname, r.relname): SequenceDef(r.nspname, r.relname, r.definition)
        for r in rows(SEQUENCES_SQL)
        if (r.nspname, r.relname) not in exclude
    }
    return Catalog(
        tables=tables,
        enums=enums,
        sequences=sequences,
        schemas=tuple(sorted(r.nspname for r in rows(SCHEMAS_SQL))),
        extensions=tuple(sorted((r.extname, r.nspname) for r in rows(EXTENSIONS_SQL))),
        constants=_constants(driver, tables.values()),
        objects=read_objects(rows, exclude),
        dependencies=read_dependencies(rows),
    )


def _read_tables(rows: Callable[[str], list[Any]], exclude: frozenset[TableKey]) -> dict[TableKey, Table]:
    """Tables with their columns, constraints and indexes: one query each, joined here by oid."""
    tables_by_oid = {
        r.oid: (r.nspname, r.relname, r.comment) for r in rows(TABLES_SQL) if (r.nspname, r.relname) not in exclude
    }
    columns: dict[int, dict[str, Column]] = defaultdict(dict)
    for r in rows(COLUMNS_SQL):
        if r.attrelid in tables_by_oid:
            generated = r.expr if r.attgenerated else None
            columns[r.attrelid][r.attname] = Column(
                name=r.attname,
                type=r.type,
                nullable=not r.attnotnull,
                default=None if r.attgenerated else r.expr,
                identity=identity_text(r.attidentity, r.identity_options),
                generated=generated,
                comment=r.comment,
                collation=r.collation,
                default_sequence=(r.default_sequence[0], r.default_sequence[1]) if r.default_sequence else None,
            )
    constraints: dict[int, dict[str, Constraint]] = defaultdict(dict)
    for r in rows(CONSTRAINTS_SQL):
        if r.conrelid in tables_by_oid:
            constraints[r.conrelid][r.conname] = Constraint(r.conname, r.contype, r.definition, r.comment)
    indexes: dict[int, dict[str, Index]] = defaultdict(dict)
    for r in rows(INDEXES_SQL):
        if r.indrelid in tables_by_oid:
            shape = r.definition.replace(f" INDEX {r.quoted} ON ", " INDEX ON ", 1)
            indexes[r.indrelid][r.relname] = Index(
                r.relname, r.definition, shape, r.indisunique, r.amname, r.predicate, r.comment
            )
    tables = {
        (schema, name): Table(
            schema, name, comment, columns.get(oid, {}), constraints.get(oid, {}), indexes.get(oid, {})
        )
        for oid, (schema, name, comment) in tables_by_oid.items()
    }
    return tables


# Settings a value's text output depends on, so that two servers render one value alike.
_OUTPUT_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
    ("standard_conforming_strings", "on"),
)


def _constants(driver: Any, tables: Iterable[Table]) -> Constants:
    """Every constant of the catalog's expressions, evaluated by the server in one round trip
    (plus one to see which types are PostgreSQL's own). In a savepoint rolled back afterwards,
    so the settings it makes and any error leave the caller's transaction as it was."""
    tables = list(tables)
    todo = collect_constants(
        expressions=[e for t in tables for c in t.columns.values() for e in (c.default, c.generated) if e],
        constraints=[c.definition for t in tables for c in t.constraints.values() if c.type in ("c", "x")],
        indexes=[i.definition for t in tables for i in t.indexes.values()],
        defaults=[(c.default, c.type) for t in tables for c in t.columns.values() if c.default],
    )
    if not todo.items:
        return {}

    def rows(sql: str, params: tuple[object, ...]) -> list[Any]:
        with driver.cursor() as cur:
            found: list[Any] = cur.execute(sql.encode(), params or None).fetchall()
            return found

    try:
        with driver.transaction(force_rollback=True):
            for name, value in _OUTPUT_SETTINGS:
                rows("SELECT set_config(%s, %s, true)", (name, value))
            return evaluate_constants(todo, rows)
    except psycopg.Error:
        return {}  # nothing evaluated: the trees alone decide, literals exactly


def read_catalogs(*sources: tuple[Engine, frozenset[TableKey]]) -> list[Catalog]:
    """Several databases' snapshots at once (each read mostly waits on its server)."""

    def read(source: tuple[Engine, frozenset[TableKey]]) -> Catalog:
        engine, exclude = source
        with engine.connect() as conn:
            return read_catalog(conn, exclude)

    with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="driftbot-catalog") as pool:
        return list(pool.map(read, sources))


EMPTY_CATALOG = Catalog(tables={}, enums={}, sequences={})
