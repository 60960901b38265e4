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
import time
from dataclasses import replace

from sqlalchemy import Connection, text

from driftbot.catalog import USER_SCHEMAS, Catalog, Column, Index, Table, TableKey, read_catalog
from driftbot.errors import ConfigError
from driftbot.live import LiveSnapshot, LiveTarget, read_facts, read_only, read_revisions, translated
from driftbot.sqlnames import qualified, quote_ident

SCHEMAS_SQL = f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS} ORDER BY 1"


def tenant_schemas(conn: Connection, pattern: str) -> list[str]:
    """The schemas whose name matches the glob `pattern` (case-sensitive, like PostgreSQL's names)."""
    return [str(r[0]) for r in conn.execute(text(SCHEMAS_SQL)) if fnmatch.fnmatchcase(str(r[0]), pattern)]


def read_tenants(target: LiveTarget, pattern: str, version_table: tuple[str | None, str], default_schema: str,
                 shared: frozenset[str]) -> list[tuple[str, LiveSnapshot]]:
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
            conn.execute(text("SELECT set_config('search_path', :path, true)"),
                         {"path": f"{quote_ident(tenant)}, {quote_ident(default_schema)}"})
            key: TableKey = (tenant, version_table[1])
            revisions = read_revisions(conn, key)
            if revisions is None and version_table[0] not in (None, tenant):
                key = (str(version_table[0]), version_table[1])
                revisions = read_revisions(conn, key)
            catalog = as_schema(read_catalog(conn, exclude=frozenset({key})), tenant, default_schema, shared)
            seconds = round(time.perf_counter() - started, 4)
            found.append((tenant, LiveSnapshot(replace(facts, default_schema=default_schema), key, revisions,
                                               catalog, seconds)))
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
    return replace(catalog, tables=tables, enums=enums, sequences=sequences, schemas=schemas)


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

    return replace(table, schema=default_schema, columns={n: column(c) for n, c in table.columns.items()},
                   indexes={n: index(i) for n, i in table.indexes.items()})
