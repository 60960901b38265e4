"""Stage 3, database O: build the models' schema with `create_all`, object by object on error.

When PostgreSQL (or SQLAlchemy's compiler) rejects part of the models, e.g. a foreign key to
a column that is not unique, each rejected object becomes a `model_rejected` finding and the
rest of the models are still built, so they can still be compared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial

from sqlalchemy import Connection, ForeignKeyConstraint, MetaData, Table, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, DDLElement, SetColumnComment, SetTableComment
from sqlalchemy.sql.sqltypes import SchemaType

from driftbot.compare.catalog import USER_SCHEMAS, Catalog
from driftbot.compare.findings import Finding
from driftbot.project.migrate import database_error_text
from driftbot.safety.sqlnames import literal, qualified, quote_ident, text_escaped

log = logging.getLogger(__name__)

SKIPPED_EXTENSIONS = {"plpgsql"}


def prepare_models_database(
    conn: Connection,
    metadatas: Iterable[MetaData],
    migrations_catalog: Catalog,
    default_schema: str,
    collations: Iterable[tuple[str, str]] = (),
) -> None:
    """Schemas, extensions and collations that models cannot express but that `create_all` needs.

    `collations`: (schema, CREATE COLLATION statement) of the migrations' own (collation_ddl).
    """
    metadatas = tuple(metadatas)
    collations = tuple(collations)
    extensions = [(name, schema) for name, schema in migrations_catalog.extensions if name not in SKIPPED_EXTENSIONS]
    schemas = declared_schemas(metadatas) | {schema for schema, _ in collations}
    schemas |= {schema for _, schema in extensions if schema in migrations_catalog.schemas}
    for schema in sorted(schemas - {default_schema}):
        conn.execute(text(text_escaped(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")))
    for name, schema in extensions:
        ddl = f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)} SCHEMA {quote_ident(schema)}"
        conn.execute(text(text_escaped(ddl)))
    for _, ddl in collations:
        conn.execute(text(text_escaped(ddl)))


def declared_schemas(metadatas: Iterable[MetaData]) -> set[str]:
    """Every schema the models name: their tables', and their types' and sequences' (an enum may
    live in a schema that holds no table of the models)."""
    schemas: set[str] = set()
    for md in metadatas:
        schemas |= {t.schema for t in md.tables.values() if t.schema}
        schemas |= {
            str(c.type.schema)
            for t in md.tables.values()
            for c in t.columns
            if isinstance(c.type, SchemaType) and getattr(c.type, "schema", None)
        }
        schemas |= {seq.schema for seq in md._sequences.values() if seq.schema}
    return schemas


# the migrations' own collations (not an extension's): a model may name one (String(collation=...)),
# and create_all cannot create it. colliculocale (15, 16) became colllocale (17): read through jsonb.
COLLATIONS_SQL = f"""
SELECT n.nspname, c.collname, c.collprovider, c.collisdeterministic, c.collcollate, c.collctype,
       coalesce(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale', c.collcollate) AS locale,
       to_jsonb(c) ->> 'collicurules' AS rules
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE {USER_SCHEMAS} AND c.collprovider <> 'd' AND NOT EXISTS (
    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_collation'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
_PROVIDERS = {"i": "icu", "c": "libc", "b": "builtin"}


def collation_ddl(conn: Connection) -> tuple[tuple[str, str], ...]:
    """(schema, CREATE COLLATION IF NOT EXISTS ...) for each collation the migrations created."""
    found: list[tuple[str, str]] = []
    for schema, name, provider, deterministic, collate, ctype, locale, rules in conn.execute(text(COLLATIONS_SQL)):
        if provider == "c":
            options = [f"lc_collate = {literal(collate)}", f"lc_ctype = {literal(ctype)}"]
        else:
            options = [f"locale = {literal(locale)}"]
        options.insert(0, f"provider = {_PROVIDERS.get(provider, 'libc')}")
        if not deterministic:
            options.append("deterministic = false")
        if rules:
            options.append(f"rules = {literal(rules)}")
        found.append((schema, f"CREATE COLLATION IF NOT EXISTS {qualified(schema, name)} ({', '.join(options)})"))
    return tuple(found)


def create_models(conn: Connection, metadatas: Iterable[MetaData], default_schema: str) -> list[Finding]:
    """`create_all` each MetaData; fall back to one object at a time if anything is rejected."""
    rejected: list[Finding] = []
    for metadata in metadatas:
        try:
            with conn.begin_nested():
                metadata.create_all(conn)
        except SQLAlchemyError as exc:
            log.debug("create_all failed (%s); building object by object", exc)
            rejected += _create_piecewise(conn, metadata, default_schema)
    return rejected


def _create_piecewise(conn: Connection, metadata: MetaData, default_schema: str) -> list[Finding]:
    rejected: list[Finding] = []

    @contextmanager
    def attempt(kind: str, obj: str, table: Table | None, ddl: Callable[[], str]) -> Iterator[None]:
        """Run the block in a savepoint; if it is rejected, record `obj` (a dotted path)."""
        try:
            with conn.begin_nested():
                yield
        except SQLAlchemyError as exc:
            error = database_error_text(exc) if isinstance(exc, DBAPIError) else str(exc)
            rejected.append(
                Finding(
                    "model_rejected",
                    obj,
                    "high",
                    migrations=None,
                    models=_safe(ddl),
                    detail=f"PostgreSQL rejected this {kind} from the models: {error}",
                    object_type=kind,
                    schema=(table.schema or default_schema) if table is not None else None,
                    table=table.name if table is not None else None,
                    name=obj.rsplit(".", 1)[-1],
                )
            )

    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, SchemaType):
                type_ = column.type
                with attempt("type", _path(table, default_schema, column.name), table, lambda: ""):
                    type_.create(conn, checkfirst=True)
    for sequence in metadata._sequences.values():
        with attempt("sequence", f"{sequence.schema or default_schema}.{sequence.name}", None, lambda: ""):
            sequence.create(conn, checkfirst=True)
    created: list[Table] = []
    for table in metadata.sorted_tables:
        create = CreateTable(table, include_foreign_key_constraints=[])
        with attempt("table", _path(table, default_schema), table, partial(_ddl, conn, create)):
            conn.execute(create)
            for ddl in _comments(table):
                conn.execute(ddl)
            created.append(table)
    for table in created:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            add = AddConstraint(fk)
            with attempt(
                "foreign_key_constraint", _path(table, default_schema, _fk_name(fk)), table, partial(_ddl, conn, add)
            ):
                conn.execute(add)
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            create_index = CreateIndex(index)
            with attempt(
                "index", _path(table, default_schema, str(index.name)), table, partial(_ddl, conn, create_index)
            ):
                conn.execute(create_index)
    return rejected


def _fk_name(fk: ForeignKeyConstraint) -> str:
    """The name PostgreSQL gives an unnamed foreign key: <table>_<columns>_fkey."""
    if isinstance(fk.name, str):
        return fk.name
    return f"{fk.table.name}_{'_'.join(c.name for c in fk.columns)}_fkey"


def _comments(table: Table) -> list[DDLElement]:
    ddl: list[DDLElement] = [SetTableComment(table)] if table.comment is not None else []
    return ddl + [SetColumnComment(c) for c in table.columns if c.comment is not None]


def _path(table: Table, default_schema: str, *rest: str) -> str:
    return ".".join([table.schema or default_schema, table.name, *rest])


def _ddl(conn: Connection, element: DDLElement) -> str:
    return str(element.compile(dialect=conn.dialect)).strip()


def _safe(render: Callable[[], str]) -> str | None:
    try:
        return render() or None
    except SQLAlchemyError as exc:
        return f"(cannot be compiled: {exc})"
