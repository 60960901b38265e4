"""Schema-per-tenant live databases: each schema that matches `--schemas PATTERN` is one tenant,
compared with what the migrations build in their own (default) schema.

All the tenants of a database are read in one read-only transaction (live.read_only), one after
another, each with `search_path` set to the tenant first: PostgreSQL then renders the tenant's
own types, sequences and referenced tables unqualified, as it renders the migrations' default
schema in M. The tenant's catalog is then moved, as data, to the migrations' default schema
(keys, and the table name pg_get_indexdef always qualifies), so diff.py compares it as it
compares any live database. Objects of other schemas are left out, except the shared schemas
the project itself uses (not its default one).
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import replace

from sqlalchemy import Connection, text

from driftbot.compare.catalog import USER_SCHEMAS, Catalog, Column, Index, Table, TableKey, read_catalog
from driftbot.compare.objects import Objects, SchemaObject
from driftbot.errors import ConfigError
from driftbot.runs.live import LiveSnapshot, LiveTarget, read_facts, read_only, read_revisions, translated
from driftbot.safety.sqlnames import qualified, quote_ident

SCHEMAS_SQL = f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS} ORDER BY 1"


def tenant_schemas(conn: Connection, pattern: str) -> list[str]:
    """The schemas whose name matches the glob `pattern` (case-sensitive, like PostgreSQL's names)."""
    return [str(r[0]) for r in conn.execute(text(SCHEMAS_SQL)) if fnmatch.fnmatchcase(str(r[0]), pattern)]


def read_tenants(
    target: LiveTarget, pattern: str, version_table: tuple[str | None, str], default_schema: str, shared: frozenset[str]
) -> list[tuple[str, LiveSnapshot]]:
    """Each tenant's snapshot, its catalog moved to `default_schema` (the migrations' own).

    `version_table`: env.py's (schema or None, table); a tenant's own `<tenant>.<table>` comes
    first, else the configured one. `shared`: the other schemas the project uses, kept as they are.
    """
    found: list[tuple[str, LiveSnapshot]] = []
    with read_only(target) as conn, translated(target):
        facts = read_facts(conn)
        tenants = tenant_schemas(conn, pattern)
        if not tenants:
            raise ConfigError(f"--schemas {pattern!r} matches no schema of the live database {target.display}")
        for tenant in tenants:
            started = time.perf_counter()
            conn.execute(
                text("SELECT set_config('search_path', :path, true)"),
                {"path": f"{quote_ident(tenant)}, {quote_ident(default_schema)}"},
            )
            key: TableKey = (tenant, version_table[1])
            revisions = read_revisions(conn, key)
            if revisions is None and version_table[0] not in (None, tenant):
                key = (str(version_table[0]), version_table[1])
                revisions = read_revisions(conn, key)
            catalog = as_schema(read_catalog(conn, exclude=frozenset({key})), tenant, default_schema, shared)
            seconds = round(time.perf_counter() - started, 4)
            found.append(
                (tenant, LiveSnapshot(replace(facts, default_schema=default_schema), key, revisions, catalog, seconds))
            )
    return found


def as_schema(catalog: Catalog, tenant: str, default_schema: str, shared: frozenset[str]) -> Catalog:
    """The tenant's objects as if they were in `default_schema`; the `shared` schemas' as they are;
    nothing else."""

    def moved(key: TableKey) -> TableKey | None:
        if key[0] == tenant:
            return default_schema, key[1]
        return key if key[0] in shared and key[0] != default_schema else None

    tables = {new: _table(t, tenant, default_schema) for k, t in catalog.tables.items() if (new := moved(k))}
    enums = {new: replace(e, schema=new[0]) for k, e in catalog.enums.items() if (new := moved(k))}
    sequences = {new: replace(q, schema=new[0]) for k, q in catalog.sequences.items() if (new := moved(k))}
    schemas = tuple(sorted({default_schema, *(s for s in catalog.schemas if s in shared)}))
    return replace(
        catalog,
        tables=tables,
        enums=enums,
        sequences=sequences,
        schemas=schemas,
        objects=_objects(catalog.objects, tenant, default_schema, shared, frozenset(catalog.schemas)),
    )


def _objects(
    objects: Objects, tenant: str, default_schema: str, shared: frozenset[str], schemas: frozenset[str]
) -> Objects:
    """Views, functions, grants, comments, ... of the tenant as if in `default_schema` (read with the
    tenant first on the search_path, so their definitions name it unqualified); those on the tenant
    schema itself (its grants, its comment) as the default schema's; the shared schemas' and the
    database-wide ones (extensions) as they are; other schemas' (other tenants, the live public) not."""
    others = (schemas - shared - {tenant}) | {default_schema}  # the live default schema is not the tenant

    def as_default(text: str) -> str:
        return re.sub(rf"(?<![\w$]){re.escape(tenant)}(?![\w$])", default_schema, text)

    def moved(o: SchemaObject) -> SchemaObject | None:
        words = re.split(r"[ .]", o.path)
        if _about_schema(o, tenant):
            return None  # the tenant schema itself: see without_schema_itself
        if o.schema == tenant:
            return replace(o, schema=default_schema, path=as_default(o.path), definition=as_default(o.definition))
        if o.schema is None:
            return None if others & set(words) or o.name in others else o
        return o if o.schema in shared and o.schema != default_schema else None

    out: dict[str, dict[str, SchemaObject]] = {}
    for kind, by_path in objects.items():
        for o in by_path.values():
            if (new := moved(o)) is not None:
                out.setdefault(kind, {})[new.path] = new
    return out


def _table(table: Table, tenant: str, default_schema: str) -> Table:
    if table.schema != tenant:
        return table
    old, new = qualified(tenant, table.name), qualified(default_schema, table.name)

    def index(i: Index) -> Index:  # pg_get_indexdef qualifies the table whatever the search_path
        def move(definition: str) -> str:
            for on in (" ON ", " ON ONLY "):
                definition = definition.replace(f"{on}{old} USING ", f"{on}{new} USING ", 1)
            return definition

        return replace(i, definition=move(i.definition), shape=move(i.shape))

    def column(c: Column) -> Column:
        sequence = c.default_sequence
        if sequence is not None and sequence[0] == tenant:
            return replace(c, default_sequence=(default_schema, sequence[1]))
        return c

    return replace(
        table,
        schema=default_schema,
        columns={n: column(c) for n, c in table.columns.items()},
        indexes={n: index(i) for n, i in table.indexes.items()},
    )


def without_schema_itself(catalog: Catalog, schema: str) -> Catalog:
    """`catalog` without the objects about `schema` itself (the schema, its grants, its comment): a
    tenant's schema is made by whoever creates tenants, the migrations' default schema by PostgreSQL,
    so their own privileges and comments are not the migrations' to compare."""
    return replace(
        catalog,
        objects={
            kind: {p: o for p, o in by_path.items() if not _about_schema(o, schema)}
            for kind, by_path in catalog.objects.items()
        },
    )


def _about_schema(o: SchemaObject, schema: str) -> bool:
    """The schema object, a grant on the schema, its comment (objects.py says so as it reads them)."""
    return o.about_schema == schema
