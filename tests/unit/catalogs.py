"""Plain `Catalog` values for unit tests, spelled as PostgreSQL renders them (no database).

    catalog(table("users", col("id", nullable=False), col("email", "text"),
                  constraints=[pk("users_pkey", "id")], indexes=[index("ix_users_email", "users", "email")]),
            enum("status", "open", "closed"))

Findings come from `diff_catalogs` of two such catalogs, so a test states the schemas and
gets the findings driftbot would.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from driftbot.compare.catalog import Catalog, Column, Constraint, EnumType, Index, SequenceDef, Table, TableKey
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.safety.sqlnames import qualified, quote_ident


def col(
    name: str,
    type_: str = "integer",
    *,
    nullable: bool = True,
    default: str | None = None,
    identity: str | None = None,
    generated: str | None = None,
    comment: str | None = None,
    collation: str | None = None,
    sequence: TableKey | None = None,
) -> Column:
    return Column(name, type_, nullable, default, identity, generated, comment, collation, sequence)


def table(
    name: str,
    *columns: Column,
    schema: str = "public",
    comment: str | None = None,
    constraints: Iterable[Constraint] = (),
    indexes: Iterable[Index] = (),
) -> Table:
    return Table(
        schema,
        name,
        comment,
        {c.name: c for c in columns},
        {c.name: c for c in constraints},
        {i.name: i for i in indexes},
    )


def pk(name: str, *columns: str) -> Constraint:
    return Constraint(name, "p", f"PRIMARY KEY ({', '.join(columns)})")


def check(name: str, expression: str) -> Constraint:
    return Constraint(name, "c", f"CHECK ({expression})")


def unique(name: str, *columns: str) -> Constraint:
    return Constraint(name, "u", f"UNIQUE ({', '.join(columns)})")


def index(
    name: str, table_name: str, *columns: str, schema: str = "public", unique: bool = False, where: str | None = None
) -> Index:
    """As pg_get_indexdef writes it: `CREATE [UNIQUE ]INDEX name ON schema.table USING btree (cols)`."""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    body = f"ON {qualified(schema, table_name)} USING btree ({', '.join(columns)})" + (
        f" WHERE {where}" if where else ""
    )
    return Index(name, f"CREATE {kind} {quote_ident(name)} {body}", f"CREATE {kind} {body}", unique, "btree", where)


def enum(name: str, *labels: str, schema: str = "public") -> EnumType:
    return EnumType(schema, name, labels)


def sequence(
    name: str, definition: str = "AS bigint START WITH 1 INCREMENT BY 1", schema: str = "public"
) -> SequenceDef:
    return SequenceDef(schema, name, definition)


def catalog(*objects: Table | EnumType | SequenceDef) -> Catalog:
    return Catalog(
        tables={(o.schema, o.name): o for o in objects if isinstance(o, Table)},
        enums={(o.schema, o.name): o for o in objects if isinstance(o, EnumType)},
        sequences={(o.schema, o.name): o for o in objects if isinstance(o, SequenceDef)},
    )


def findings(migrations: Catalog, models: Catalog) -> list[Finding]:
    """What driftbot finds between the two: the input of the later stages."""
    return diff_catalogs(migrations, models)


def statements(lines: Iterable[str]) -> list[str]:
    """The SQL of a FixOp's `op.execute(...)` lines (other lines, such as an autocommit block, dropped)."""
    out = []
    for line in lines:
        line = line.strip()
        if line.startswith("op.execute("):
            call = ast.parse(line).body[0]
            assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
            out.append(ast.literal_eval(call.value.args[0]).replace("\\:", ":"))
    return out
