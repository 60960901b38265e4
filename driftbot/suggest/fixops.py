"""driftbot's own migration ops, for what Alembic autogenerate does not emit.

Pure functions from Findings (and the two catalogs) to `FixOp`s: the upgrade statements,
their exact inverse, and their hazards as data. Statements use PostgreSQL's own rendering
of each definition, taken from the catalogs, so what is applied is what was compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from driftbot.compare.catalog import Catalog, Column, Table, TableKey
from driftbot.compare.findings import Finding
from driftbot.compare.kinds import KINDS
from driftbot.safety.sqlnames import literal as sql_literal
from driftbot.safety.sqlnames import qualified, quote_ident, text_escaped

# before autogenerate's ops, after them, at the very end; "rename": a table rename, first both ways
Phase = Literal["pre", "post", "last", "rename"]
# left_out: a part of the models PostgreSQL rejected, which the fix therefore does not contain
HazardKind = Literal["destructive", "rewrite_lock", "probable_rename", "models_behind", "left_out"]


@dataclass(frozen=True)
class Hazard:
    kind: HazardKind
    object: str
    message: str


@dataclass(frozen=True)
class FixOp:
    """One change: Python lines for upgrade() and for downgrade(), plus what makes it risky."""

    object: str
    upgrade: tuple[str, ...]
    downgrade: tuple[str, ...]
    phase: Phase = "post"
    hazards: tuple[Hazard, ...] = field(default_factory=tuple)


def execute(sql: str) -> str:
    """`op.execute(...)` of one statement, as a Python literal that text() leaves as it is."""
    return f"op.execute({text_escaped(sql)!r})"


def autocommit(*statements: str) -> tuple[str, ...]:
    """Statements PostgreSQL won't run inside the migration's transaction (ALTER TYPE ... ADD VALUE)."""
    return ("with op.get_context().autocommit_block():", *(execute(s) for s in statements), "")


def _sql(*statements: str) -> tuple[str, ...]:
    return tuple(execute(s) for s in statements)


@dataclass(frozen=True)
class Context:
    migrations: Catalog  # the catalog the migrations build (before the fix)
    models: Catalog  # the catalog the models build (the target)
    findings: tuple[Finding, ...]  # every drift finding, for cross-references


def table_ref(f: Finding) -> str:
    return qualified(f.schema or "public", f.table or "")


def _column(catalog: Catalog, f: Finding) -> Column | None:
    table = catalog.tables.get((f.schema or "", f.table or ""))
    return table.columns.get(f.name or "") if table else None


# --- columns -----------------------------------------------------------------------------

_NEXTVAL_DEFAULT = re.compile(r"^nextval\('.+'::regclass\)$", re.DOTALL)  # recognises a serial default, nothing more


def serial_sequence(catalog: Catalog, f: Finding) -> TableKey | None:
    """The (schema, name) of the sequence a serial-style default calls, from the catalog (pg_depend)."""
    column = _column(catalog, f)
    if column is None or not _NEXTVAL_DEFAULT.match(column.default or ""):
        return None
    return column.default_sequence


def _move_sequence(frm: TableKey, to: TableKey) -> list[str]:
    steps = [f"ALTER SEQUENCE {qualified(*frm)} RENAME TO {quote_ident(to[1])}"] if frm[1] != to[1] else []
    if frm[0] != to[0]:
        steps.append(f"ALTER SEQUENCE {qualified(frm[0], to[1])} SET SCHEMA {quote_ident(to[0])}")
    return steps


def column_default(f: Finding, ctx: Context) -> Iterator[FixOp]:
    col = f"ALTER TABLE {table_ref(f)} ALTER COLUMN {quote_ident(f.name or '')}"
    m_seq, o_seq = serial_sequence(ctx.migrations, f), serial_sequence(ctx.models, f)
    if m_seq and o_seq and m_seq != o_seq:
        # the same serial under another sequence name (a renamed table): rename the sequence
        yield FixOp(f.object, _sql(*_move_sequence(m_seq, o_seq)), _sql(*_move_sequence(o_seq, m_seq)))
        return

    def set_(default: str | None) -> str:  # PostgreSQL's own rendering of the expression (pg_get_expr)
        return f"{col} SET DEFAULT {default}" if default is not None else f"{col} DROP DEFAULT"

    yield FixOp(f.object, _sql(set_(f.models)), _sql(set_(f.migrations)))


def column_nullable(f: Finding, ctx: Context) -> Iterator[FixOp]:
    col = f"ALTER TABLE {table_ref(f)} ALTER COLUMN {quote_ident(f.name or '')}"

    def set_(nullable: str | None) -> str:
        return f"{col} DROP NOT NULL" if nullable == "NULL" else f"{col} SET NOT NULL"

    yield FixOp(f.object, _sql(set_(f.models)), _sql(set_(f.migrations)))


def column_type(f: Finding, ctx: Context) -> Iterator[FixOp]:
    col = f"ALTER TABLE {table_ref(f)} ALTER COLUMN {quote_ident(f.name or '')}"
    name = quote_ident(f.name or "")
    hazards = (
        (
            Hazard(
                "destructive",
                f.object,
                f"narrows {f.migrations} to {f.models}: values that do not fit make the upgrade fail or are truncated",
            ),
        )
        if is_narrowing(f.migrations or "", f.models or "")
        else ()
    )
    # no cast joins two enums, or an enum and most other types: through text
    via = "::text" if _is_enum(ctx.migrations, f.migrations) or _is_enum(ctx.models, f.models) else ""
    yield FixOp(
        f.object,
        _sql(f"{col} TYPE {f.models} USING {name}{via}::{f.models}"),
        _sql(f"{col} TYPE {f.migrations} USING {name}{via}::{f.migrations}"),
        hazards=hazards,
    )


def _is_enum(catalog: Catalog, type_text: str | None) -> bool:
    """Is `type_text` (format_type's spelling) an enum of `catalog`, or an array of one?"""
    bare = (type_text or "").removesuffix("[]")
    return any(bare in (quote_ident(name), qualified(schema, name)) for schema, name in catalog.enums)


def column_comment(f: Finding, ctx: Context) -> Iterator[FixOp]:
    target = f"COLUMN {table_ref(f)}.{quote_ident(f.name or '')}"
    yield FixOp(
        f.object,
        _sql(f"COMMENT ON {target} IS {sql_literal(f.models)}"),
        _sql(f"COMMENT ON {target} IS {sql_literal(f.migrations)}"),
    )


def table_comment(f: Finding, ctx: Context) -> Iterator[FixOp]:
    target = f"TABLE {table_ref(f)}"
    yield FixOp(
        f.object,
        _sql(f"COMMENT ON {target} IS {sql_literal(f.models)}"),
        _sql(f"COMMENT ON {target} IS {sql_literal(f.migrations)}"),
    )


def column_collation(f: Finding, ctx: Context) -> Iterator[FixOp]:
    """A collation changes only with ALTER COLUMN ... TYPE (the same type) COLLATE ..."""
    m_col, o_col = _column(ctx.migrations, f), _column(ctx.models, f)
    if m_col is None or o_col is None:
        return
    col = f"ALTER TABLE {table_ref(f)} ALTER COLUMN {quote_ident(f.name or '')}"

    def set_(c: Column) -> str:  # None: the type's own collation
        collation = quote_ident(c.collation) if c.collation else 'pg_catalog."default"'
        return f"{col} TYPE {c.type} COLLATE {collation}"

    yield FixOp(
        f.object,
        _sql(set_(o_col)),
        _sql(set_(m_col)),
        hazards=(
            Hazard(
                "rewrite_lock",
                f.object,
                "changing a column's collation rebuilds its indexes under an ACCESS EXCLUSIVE lock",
            ),
        ),
    )


_IDENTITY = re.compile(r"GENERATED (ALWAYS|BY DEFAULT) AS IDENTITY(?: \((.*)\))?")
_NEXTVAL = re.compile(r"^DEFAULT nextval\('.+'::regclass\)$", re.DOTALL)


def _identity_steps(
    col: str,
    table: str,
    column: str,
    frm: str | None,
    to: str | None,
    frm_seq: TableKey | None,
    to_seq: TableKey | None,
    to_type: str = "",
) -> list[str]:
    """Statements that turn one identity/serial spec into another (None: plain column).

    A serial's sequence is named by the catalog (`frm_seq`, `to_seq`), never taken from the text;
    None for a sequence of its own (not OWNED BY the column), which the sequence op creates or
    drops: then only the default changes here.
    """
    steps: list[str] = []
    frm_serial = _NEXTVAL.match(frm or "")
    to_serial = _NEXTVAL.match(to or "")
    frm_ident, to_ident = _IDENTITY.match(frm or ""), _IDENTITY.match(to or "")
    if frm_ident and to_ident:
        options = to_ident.group(2) or ""
        sets = " ".join(
            f"SET {opt}"
            for opt in re.findall(r"(START WITH \S+|INCREMENT BY \S+|MINVALUE \S+|MAXVALUE \S+|CACHE \S+)", options)
        )
        cycle = " SET CYCLE" if options.endswith("CYCLE") else " SET NO CYCLE"
        return [f"{col} SET GENERATED {to_ident.group(1)} {sets}{cycle}"]
    if frm_serial:
        steps.append(f"{col} DROP DEFAULT")
        if frm_seq:
            steps.append(f"DROP SEQUENCE {qualified(*frm_seq)}")
    if frm_ident:
        steps.append(f"{col} DROP IDENTITY")
    if to_ident:
        options = f" ({to_ident.group(2)})" if to_ident.group(2) else ""
        steps.append(f"{col} ADD GENERATED {to_ident.group(1)} AS IDENTITY{options}")
    if to_serial and to_seq:
        seq = qualified(*to_seq)
        # as a serial's: of the column's own type (a bigint sequence would outgrow an integer column)
        as_type = f" AS {to_type}" if to_type in _INT_WIDTH else ""
        steps += [
            f"CREATE SEQUENCE {seq}{as_type} OWNED BY {table}.{quote_ident(column)}",
            f"{col} SET DEFAULT nextval({sql_literal(seq)}::regclass)",
        ]
    elif to_serial:  # a standalone sequence: created by its own op, before this one
        steps.append(f"{col} SET {to}")  # to: DEFAULT nextval(...), the catalog's rendering
    return steps


def _sequence_of(catalog: Catalog, f: Finding) -> TableKey | None:
    """The serial's own sequence (OWNED BY the column); None for none or a standalone one, which
    the catalog lists among its sequences and the sequence op drops (after the default) or creates."""
    column = _column(catalog, f)
    sequence = column.default_sequence if column is not None else None
    return None if sequence is None or sequence in catalog.sequences else sequence


def column_identity(f: Finding, ctx: Context) -> Iterator[FixOp]:
    col = f"ALTER TABLE {table_ref(f)} ALTER COLUMN {quote_ident(f.name or '')}"
    args = (col, table_ref(f), f.name or "")
    m_seq, o_seq = _sequence_of(ctx.migrations, f), _sequence_of(ctx.models, f)
    m_col, o_col = _column(ctx.migrations, f), _column(ctx.models, f)
    yield FixOp(
        f.object,
        _sql(*_identity_steps(*args, f.migrations, f.models, m_seq, o_seq, o_col.type if o_col else "")),
        _sql(*_identity_steps(*args, f.models, f.migrations, o_seq, m_seq, m_col.type if m_col else "")),
    )


def column_generated(f: Finding, ctx: Context) -> Iterator[FixOp]:
    """PostgreSQL 15 cannot change a generation expression in place: drop and re-add the column."""
    m_col, o_col = _column(ctx.migrations, f), _column(ctx.models, f)
    if m_col is None or o_col is None:
        return
    table, name = table_ref(f), quote_ident(f.name or "")

    def recreate(c: Column) -> tuple[str, ...]:
        spec = f"{c.type} GENERATED ALWAYS AS ({c.generated}) STORED" if c.generated else c.type
        spec += "" if c.nullable else " NOT NULL"
        return _sql(f"ALTER TABLE {table} DROP COLUMN {name}", f"ALTER TABLE {table} ADD COLUMN {name} {spec}")

    yield FixOp(
        f.object,
        recreate(o_col),
        recreate(m_col),
        hazards=(
            Hazard(
                "rewrite_lock",
                f.object,
                "drops and re-adds the generated column: rewrites the table under an ACCESS EXCLUSIVE lock",
            ),
        ),
    )


# --- constraints and indexes -------------------------------------------------------------------


def constraint(f: Finding, ctx: Context) -> Iterator[FixOp]:
    table, name = table_ref(f), quote_ident(f.name or "")
    change = f.kind.rsplit("_", 1)[1]
    if change == "renamed":
        old, new = quote_ident(f.migrations or ""), quote_ident(f.models or "")
        yield FixOp(
            f.object,
            _sql(f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}"),
            _sql(f"ALTER TABLE {table} RENAME CONSTRAINT {new} TO {old}"),
        )
        return
    drop = f"ALTER TABLE {table} DROP CONSTRAINT {name}"

    def add(definition: str) -> str:
        return f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"

    up = ([drop] if f.migrations else []) + ([add(f.models)] if f.models else [])
    down = ([drop] if f.models else []) + ([add(f.migrations)] if f.migrations else [])
    yield FixOp(f.object, _sql(*up), _sql(*down))


def index(f: Finding, ctx: Context) -> Iterator[FixOp]:
    schema = f.schema or "public"
    if f.kind == "index_renamed":
        old, new = f.migrations or "", f.models or ""
        yield FixOp(
            f.object,
            _sql(f"ALTER INDEX {qualified(schema, old)} RENAME TO {quote_ident(new)}"),
            _sql(f"ALTER INDEX {qualified(schema, new)} RENAME TO {quote_ident(old)}"),
        )
        return
    drop = f"DROP INDEX {qualified(schema, f.name or '')}"
    up = ([drop] if f.migrations else []) + ([f.models] if f.models else [])
    down = ([drop] if f.models else []) + ([f.migrations] if f.migrations else [])
    yield FixOp(f.object, _sql(*up), _sql(*down))


# --- types and sequences ------------------------------------------------------------------------


def _enum_columns(catalog: Catalog, schema: str, name: str) -> list[tuple[Table, Column]]:
    spellings = {quote_ident(name), qualified(schema, name)}  # as format_type writes the type
    return [(t, c) for t in catalog.tables.values() for c in t.columns.values() if c.type in spellings]


def _labels(catalog: Catalog, f: Finding) -> tuple[str, ...]:
    enum = catalog.enums.get((f.schema or "", f.name or ""))
    return enum.labels if enum else ()


def _enum_swap(f: Finding, to_labels: tuple[str, ...], catalog: Catalog) -> tuple[str, ...]:
    """Replace the type by one with `to_labels`, converting every column through text.

    Indexes and CHECK constraints that mention a converted column hold constants of the old
    type (a partial index `WHERE status = 'open'`): they are dropped first and rebuilt after.
    """
    schema, name = f.schema or "public", f.name or ""
    type_name, old = qualified(schema, name), f"{name}__driftbot_old"
    labels = ", ".join(sql_literal(v) for v in to_labels)
    before: list[str] = []
    convert: list[str] = []
    after: list[str] = []
    for table, col in _enum_columns(catalog, schema, name):
        ref = qualified(table.schema, table.name)
        mentions = re.compile(rf"\b{re.escape(quote_ident(col.name))}\b")
        for index in table.indexes.values():
            if mentions.search(index.shape.split(" USING ", 1)[-1]):
                before.append(f"DROP INDEX {qualified(table.schema, index.name)}")
                after.append(index.definition)
        for con in table.constraints.values():
            if con.type == "c" and mentions.search(con.definition):
                before.append(f"ALTER TABLE {ref} DROP CONSTRAINT {quote_ident(con.name)}")
                after.append(f"ALTER TABLE {ref} ADD CONSTRAINT {quote_ident(con.name)} {con.definition}")
        alter = f"ALTER TABLE {ref} ALTER COLUMN {quote_ident(col.name)}"
        if col.default is not None:
            before.append(f"{alter} DROP DEFAULT")
            after.append(f"{alter} SET DEFAULT {col.default}")
        convert.append(f"{alter} TYPE {type_name} USING {quote_ident(col.name)}::text::{type_name}")
    return _sql(
        *before,
        f"ALTER TYPE {type_name} RENAME TO {quote_ident(old)}",
        f"CREATE TYPE {type_name} AS ENUM ({labels})",
        *convert,
        f"DROP TYPE {qualified(schema, old)}",
        *after,
    )


def enum_values(f: Finding, ctx: Context) -> Iterator[FixOp]:
    before, after = _labels(ctx.migrations, f), _labels(ctx.models, f)
    kinds = {x.kind for x in ctx.findings if x.object == f.object}
    if f.kind != min(kinds):  # one op per type, whatever mix of added/removed/reordered
        return
    swap_down = _enum_swap(f, before, ctx.migrations)
    type_name = qualified(f.schema or "public", f.name or "")
    if kinds == {"enum_values_added"} and [v for v in after if v in before] == list(before):
        statements = []
        for i, value in enumerate(after):
            if value not in before:
                anchor = next((f" BEFORE {sql_literal(v)}" for v in after[i + 1 :] if v in before), "")
                statements.append(f"ALTER TYPE {type_name} ADD VALUE IF NOT EXISTS {sql_literal(value)}{anchor}")
        yield FixOp(
            f.object,
            autocommit(*statements),
            swap_down,
            phase="pre",
            hazards=(
                Hazard(
                    "rewrite_lock",
                    f.object,
                    "the downgrade removes the values again with a type "
                    "swap, which rewrites every table that uses the type under an exclusive lock",
                ),
            ),
        )
        return
    hazards = [
        Hazard(
            "rewrite_lock",
            f.object,
            "changing an enum's values other than by adding "
            "them swaps the type: every table using it is rewritten under an ACCESS "
            "EXCLUSIVE lock",
        )
    ]
    removed = [v for v in before if v not in after]
    if removed:
        hazards.append(
            Hazard(
                "destructive",
                f.object,
                f"removes {removed}: rows that use them make the upgrade fail; update or delete them first",
            )
        )
    yield FixOp(f.object, _enum_swap(f, after, ctx.migrations), swap_down, phase="pre", hazards=tuple(hazards))


def enum_type(f: Finding, ctx: Context) -> Iterator[FixOp]:
    """A type alone, created before the tables that use it and dropped after them: the fix's
    create_table never creates one (suggest.py gives it create_type=False), Alembic never drops one."""
    type_name = qualified(f.schema or "public", f.name or "")

    def create(catalog: Catalog) -> str:
        labels = ", ".join(sql_literal(v) for v in _labels(catalog, f))
        return f"CREATE TYPE {type_name} AS ENUM ({labels})"

    if f.kind == "enum_missing":
        yield FixOp(f.object, _sql(create(ctx.models)), _sql(f"DROP TYPE {type_name}"), phase="pre")
    else:
        yield FixOp(f.object, _sql(f"DROP TYPE {type_name}"), _sql(create(ctx.migrations)), phase="last")


def sequence(f: Finding, ctx: Context) -> Iterator[FixOp]:
    seq = qualified(f.schema or "public", f.name or "")
    if f.kind == "sequence_missing":
        yield FixOp(f.object, _sql(f"CREATE SEQUENCE {seq} {f.models}"), _sql(f"DROP SEQUENCE {seq}"), phase="pre")
    elif f.kind == "sequence_extra":
        yield FixOp(f.object, _sql(f"DROP SEQUENCE {seq}"), _sql(f"CREATE SEQUENCE {seq} {f.migrations}"), phase="last")
    else:
        yield FixOp(
            f.object,
            _sql(f"ALTER SEQUENCE {seq} {f.models}"),
            _sql(f"ALTER SEQUENCE {seq} {f.migrations}"),
            phase="pre",
        )


FixFn = Callable[[Finding, Context], Iterable[FixOp]]
_FIXER_FUNCTIONS: dict[str, FixFn] = {
    "column_default": column_default,
    "column_nullable": column_nullable,
    "column_type": column_type,
    "column_comment": column_comment,
    "table_comment": table_comment,
    "column_identity": column_identity,
    "column_generated": column_generated,
    "column_collation": column_collation,
    "constraint": constraint,
    "index": index,
    "enum_values": enum_values,
    "enum_type": enum_type,
    "sequence": sequence,
}
# which kind each fixer serves is kinds.py's table
FIXERS: dict[str, FixFn] = {k.name: _FIXER_FUNCTIONS[k.fixer] for k in KINDS.values() if k.fixer}


def fix_ops(findings: Iterable[Finding], ctx: Context) -> list[FixOp]:
    """Ops for the findings driftbot knows how to fix; others are left to verification to report."""
    made = [(f, op) for f in findings if f.is_drift and f.kind in FIXERS for op in FIXERS[f.kind](f, ctx)]
    return [op for _, op in sorted(made, key=lambda pair: _nullability_rank(pair[0]))]


def _nullability_rank(f: Finding) -> int:
    """SET NOT NULL first, DROP NOT NULL last (a stable sort): PostgreSQL adds an identity only to a
    NOT NULL column and never lets an identity column be NULL, so either way round the identity op
    runs while the column is NOT NULL (and the downgrade, reversed, too)."""
    if f.kind != "column_nullable_changed":
        return 1
    return 0 if f.models == "NOT NULL" else 2


# --- hazards of the change as a whole --------------------------------------------------------------

_LENGTH = re.compile(r"^(character varying|character|varchar|numeric|bit varying)\((\d+)(?:,(\d+))?\)$")
_INT_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


def is_narrowing(frm: str, to: str) -> bool:
    """Would values of type `frm` not fit in `to`? Conservative: unknown pairs count as narrowing."""
    if frm == to:
        return False
    if to == "text" and (frm.startswith(("character varying", "character")) or frm == "text"):
        return False
    if frm in _INT_WIDTH and to in _INT_WIDTH:
        return _INT_WIDTH[to] < _INT_WIDTH[frm]
    if frm.startswith("timestamp") and to.startswith("timestamp"):
        return False
    a, b = _LENGTH.match(frm), _LENGTH.match(to)
    if a and b and a.group(1) == b.group(1):
        if a.group(1) == "numeric":
            int_a, int_b = int(a.group(2)) - int(a.group(3) or 0), int(b.group(2)) - int(b.group(3) or 0)
            return int_b < int_a or int(b.group(3) or 0) < int(a.group(3) or 0)
        return int(b.group(2)) < int(a.group(2))
    if a and a.group(1) == "character varying" and to == "character varying":
        return False
    return not (frm in _INT_WIDTH and to.startswith("numeric"))


def change_hazards(findings: Iterable[Finding]) -> list[Hazard]:
    """Hazards that follow from the findings themselves, whoever writes the op."""
    hazards: list[Hazard] = []
    for f in findings:
        if f.kind in ("table_extra", "column_extra"):
            what = "table" if f.kind == "table_extra" else "column"
            hazards.append(Hazard("destructive", f.object, f"drops the {what} and its data"))
            hazards.append(
                Hazard(
                    "models_behind",
                    f.object,
                    f"the migrations build this {what} but the "
                    "models don't declare it: if it should stay, add it to the models "
                    "instead of applying this drop",
                )
            )
        elif f.kind == "column_type_changed" and is_narrowing(f.migrations or "", f.models or ""):
            hazards.append(Hazard("destructive", f.object, f"narrows {f.migrations} to {f.models}"))
        elif f.kind.endswith("_extra") and f.is_drift:
            hazards.append(
                Hazard(
                    "models_behind",
                    f.object,
                    "only the migrations have this: the alternative is to add it to the models",
                )
            )
    return hazards
