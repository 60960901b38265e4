"""Toward the live database: adopt the hand changes as a revision (issue 12, `--fix-to live`).

The revision's upgrade() turns what the migrations build (O) into what the live database has (L);
its downgrade() turns it back. Both are found the way undo.py finds its SQL: round by round on a
scratch copy (owned by an unprivileged role), each round planned from the two catalogs, applied,
re-read, until nothing differs. A round's ops are the revision's own lines (`op.execute(...)`, the
enum ops of fixops.py), so what converged on the copy is what the file holds.

The live database's definitions are untrusted text: they reach the revision only as Python string
literals (repr, in fixops.execute), are run only on scratch copies, and names are quoted by
sqlnames. What no op here can change (a new table, a partitioning scheme) is reported,
and no revision is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from alembic.autogenerate import render_python_code
from alembic.operations import ops

from driftbot.compare.catalog import Catalog, Column
from driftbot.compare.findings import Finding
from driftbot.compare.kinds import KINDS, OBJECT_TYPES
from driftbot.compare.objects import SchemaObject
from driftbot.safety.sqlnames import qualified, quote_ident
from driftbot.suggest.fixops import Context, FixOp, execute, fix_ops
from driftbot.suggest.generate import DriftbotOp
from driftbot.suggest.undo import NOT_UNDONE, object_steps, replaceable

Lines = tuple[str, ...]
_PHASES = ("pre", "post", "last")
# views rebuilt when a column they read changes type (PostgreSQL refuses ALTER COLUMN TYPE under a view)
_REBUILDS = ("column_type", "column_generated", "enum_values", "column_collation")


@dataclass(frozen=True)
class CopyFacts:
    """What the plan asks the copy itself (pg_depend, pg_extension_update_paths)."""

    dependent_views: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # table -> (type, path)
    update_paths: frozenset[tuple[str, str, str]] = frozenset()  # (extension, from version, to version)


@dataclass(frozen=True)
class Rounds:
    lines: Lines  # every round's ops, in the order they ran
    remaining: tuple[Finding, ...]  # still different afterwards
    unsupported: tuple[Finding, ...] = ()  # no op here changes these: nothing was tried
    error: str | None = None  # the statement the copy refused, and why


def adoptable(f: Finding, have: Catalog | None = None, want: Catalog | None = None) -> bool:
    """Is there an op for `f`? Objects of objects.py (but a partitioning scheme, which needs the table
    rebuilt), what fixops.py fixes, and a plain column one side lacks; tables are autogenerate's."""
    if f.object_type in OBJECT_TYPES:
        return f.object_type not in NOT_UNDONE
    if f.kind in _COLUMN_OPS:
        return _plain_column(want if f.kind == "column_missing" else have, f) is not None
    kind = KINDS.get(f.kind)
    return kind is not None and kind.fixer is not None


_COLUMN_OPS = ("column_missing", "column_extra")


def _plain_column(catalog: Catalog | None, f: Finding) -> Column | None:
    """The column of `f` when an ADD COLUMN of its type, nullability and default makes it again: no
    identity, generation, collation or serial sequence (those need more than one statement)."""
    table = catalog.tables.get((f.schema or "", f.table or "")) if catalog is not None else None
    c = table.columns.get(f.name or "") if table is not None else None
    if c is None or c.identity or c.generated or c.collation or (c.default or "").startswith("nextval("):
        return None
    return c


def _column_op(f: Finding, have: Catalog, want: Catalog) -> FixOp | None:
    """ADD COLUMN before the constraints and indexes over it, DROP COLUMN after them (and its data)."""
    table = qualified(f.schema or "public", f.table or "")
    drop = f"ALTER TABLE {table} DROP COLUMN {quote_ident(f.name or '')}"

    def add(c: Column) -> str:
        default = f" DEFAULT {c.default}" if c.default is not None else ""  # pg_get_expr's rendering
        return (
            f"ALTER TABLE {table} ADD COLUMN {quote_ident(c.name)} {c.type}{'' if c.nullable else ' NOT NULL'}{default}"
        )

    c = _plain_column(want if f.kind == "column_missing" else have, f)
    if c is None:
        return None
    if f.kind == "column_missing":
        return FixOp(f.object, _lines(add(c)), _lines(drop), phase="pre")
    return FixOp(f.object, _lines(drop), _lines(add(c)), phase="last")


def _in_place(have: SchemaObject, want: SchemaObject, facts: CopyFacts) -> bool:
    """As undo's, and ALTER EXTENSION UPDATE only where the extension ships that update path."""
    if not replaceable(have, want):
        return False
    return want.type != "extension" or (want.name, _version(have), _version(want)) in facts.update_paths


def _version(extension: SchemaObject) -> str:
    return extension.definition.rsplit(" VERSION ", 1)[-1].strip("'")


def _lines(*statements: str) -> Lines:
    return tuple(execute(s) for s in statements if s)


# how objects.PARTITIONS_SQL writes a partition: ALTER TABLE parent ATTACH PARTITION child bound, the
# names quoted by the server (quote_ident: bare, or double quotes with "" inside)
_IDENT = r'(?:[a-z_][a-z0-9_]*|"(?:[^"]|"")+")'
_ATTACH = re.compile(rf"ALTER TABLE ({_IDENT}\.{_IDENT}) ATTACH PARTITION ")


def _partition_table(partition: SchemaObject, other: Catalog, drop: bool) -> str | None:
    """A partition whose table the other side does not have at all (not even as a plain table, which
    ATTACH and DETACH would do): the table is created as a partition, or dropped with it."""
    if partition.type != "partition" or partition.schema is None or (partition.schema, partition.name) in other.tables:
        return None
    child = qualified(partition.schema, partition.name)
    if drop:
        return f"DROP TABLE {child}"
    head = _ATTACH.match(partition.definition)
    rest = partition.definition[head.end() :] if head else ""
    if head is None or not rest.startswith(child + " "):
        return None  # not as the server writes it: ATTACH, which then fails and is reported
    return f"CREATE TABLE {child} PARTITION OF {head.group(1)} {rest[len(child) + 1 :]}"


def plan(findings: Sequence[Finding], have: Catalog, want: Catalog, facts: CopyFacts = CopyFacts()) -> Lines:
    """The ops of one round that turn `have` into `want`: object drops (dependents first), the
    table-level ops of fixops.py by phase, then object creates and in-place changes (dependencies
    first). Views over a column whose type changes are dropped before and re-created after."""
    objects = [(f.object_type, f.object) for f in findings if f.object_type in OBJECT_TYPES and adoptable(f)]
    tables = [
        _cascading(f) for f in _this_round(findings) if f.object_type not in OBJECT_TYPES and adoptable(f, have, want)
    ]
    for f in tables:
        if KINDS[f.kind].aspect in _REBUILDS:
            table = f"{f.schema}.{f.table}" if f.table else f"{f.schema}.{f.name}"
            objects += [
                v for t, views in facts.dependent_views.items() if t == table or f.object_type == "enum" for v in views
            ]
    drops, makes = object_steps(
        objects,
        have,
        want,
        in_place=lambda old, new: _in_place(old, new, facts),
        drop_of=lambda o: _partition_table(o, want, drop=True) or o.drop,
        create_of=lambda o: _partition_table(o, have, drop=False) or o.create,
    )
    ops_ = fix_ops(tables, Context(have, want, tuple(findings)))
    ops_ += [op for f in tables if f.kind in _COLUMN_OPS for op in [_column_op(f, have, want)] if op is not None]
    by_phase = [line for phase in _PHASES for op in ops_ if op.phase == phase for line in op.upgrade]
    return _lines(*drops) + tuple(by_phase) + _lines(*makes)


def _this_round(findings: Sequence[Finding]) -> list[Finding]:
    """An enum swapped (values removed or reordered) waits for the next round while column defaults
    change: the swap re-sets each default as the copy has it, which the new type may lack."""
    if not any(KINDS[f.kind].aspect == "column_default" for f in findings if f.kind in KINDS):
        return list(findings)
    return [f for f in findings if f.kind not in ("enum_values_removed", "enum_values_reordered")]


def _cascading(f: Finding) -> Finding:
    """An index of a partitioned table as pg_get_indexdef writes it (`ON ONLY`) would not reach the
    partitions: created without ONLY, it is created on each of them too, as the live one was."""
    if f.object_type != "index" or not f.name:
        return f

    def cascade(definition: str | None) -> str | None:
        for head in (
            f"CREATE INDEX {quote_ident(f.name or '')} ON ONLY ",
            f"CREATE UNIQUE INDEX {quote_ident(f.name or '')} ON ONLY ",
        ):
            if definition is not None and definition.startswith(head):
                return head.removesuffix("ONLY ") + definition[len(head) :]
        return definition

    return replace(f, migrations=cascade(f.migrations), models=cascade(f.models))


def converge(
    drift: Callable[[], tuple[Catalog, list[Finding]]],
    facts: Callable[[], CopyFacts],
    apply: Callable[[Lines], None],
    want: Catalog,
    rounds: int = 4,
) -> Rounds:
    """Round by round on a copy: a view dropped and re-created loses its grants and comments, which
    the next round finds missing and adds. `drift` reads the copy and diffs it with `want`; `apply`
    runs one round's ops in one transaction (and raises what the server refused)."""
    done: list[str] = []
    have, found = drift()
    unsupported = tuple(f for f in found if not adoptable(f, have, want))
    if unsupported:
        return Rounds((), tuple(found), unsupported)
    for _ in range(rounds):
        lines = plan(found, have, want, facts())
        if not lines:
            break
        try:
            apply(lines)
        except Exception as exc:  # the server's refusal is the answer: reported, not raised
            reason = str(exc).split("\n(Background on this error", 1)[0]  # SQLAlchemy's link: noise here
            return Rounds(tuple(done), tuple(found), (), f"{type(exc).__name__}: {reason}".strip())
        done += lines
        have, found = drift()
        if any(not adoptable(f, have, want) for f in found):
            break
    return Rounds(tuple(done), tuple(found), tuple(f for f in found if not adoptable(f, have, want)))


def body(lines: Lines) -> str:
    """upgrade()'s or downgrade()'s body as Alembic renders one (the template indents its first line)."""
    rendered = render_python_code(ops.UpgradeOps(ops=[DriftbotOp(FixOp("", lines, ()))]))
    return rendered if lines else "pass"


def runnable(lines: Lines) -> str:
    """One round as a module that defines and calls a function, as a revision file's upgrade() runs."""
    return f"def _round():\n    {body(lines)}\n\n\n_round()\n"
