"""Toward the migrations: the SQL that brings a live database's views, functions, triggers, policies,
grants, ... back to what its migrations build (undo the hand changes; issue 12, `--fix-to migrations`).

Pure functions from findings and the two catalogs to statements, plus `converge`, which applies
them round by round to a scratch copy and re-reads it until nothing of these kinds differs. What is
created comes from the migrations' database, never from the live one (its definitions are
untrusted); what is dropped is named by the server's own quoting (objects.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from driftbot.compare.catalog import Catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.compare.kinds import OBJECT_TYPES
from driftbot.compare.objects import SchemaObject

# Creation order (what an object may depend on comes first); drops go the other way.
ORDER = ("schema", "extension", "collation", "domain", "composite_type", "range_type", "function", "procedure",
         "aggregate", "partition", "inheritance", "table_options", "view", "materialized_view", "trigger",
         "row_security", "policy", "rule", "grant", "comment")
# a table's partitioning scheme cannot change in place: the table is rebuilt, which is the DBA's call
NOT_UNDONE = frozenset({"partition_key"})


@dataclass(frozen=True)
class Undo:
    statements: tuple[str, ...]
    remaining: tuple[Finding, ...]  # still different after the last round (or not undoable)
    error: str | None = None  # the statement the copy refused, and why


def _object(catalog: Catalog, f: Finding) -> SchemaObject | None:
    return catalog.objects.get(f.object_type, {}).get(f.object)


def _returns(definition: str) -> str:
    return next((line for line in definition.splitlines() if line.strip().startswith("RETURNS ")), "")


def _in_place(live: SchemaObject, target: SchemaObject) -> bool:
    if not target.replace:
        return False
    if target.type == "function":  # CREATE OR REPLACE cannot change what a function returns
        return _returns(live.definition) == _returns(target.definition)
    return True


def undo_statements(findings: Iterable[Finding], live: Catalog, migrations: Catalog) -> list[str]:
    """Drops (dependents first), then in-place changes and creates (dependencies first)."""
    drops: list[tuple[int, str]] = []
    makes: list[tuple[int, str]] = []
    for f in findings:
        if f.object_type not in OBJECT_TYPES or f.object_type in NOT_UNDONE or not f.is_drift:
            continue
        rank = ORDER.index(f.object_type)
        have, want = _object(live, f), _object(migrations, f)
        if have is not None and want is not None and _in_place(have, want):
            makes.append((rank, want.replace))
            continue
        if have is not None and have.drop:
            drops.append((rank, have.drop))
        if want is not None and want.create:
            makes.append((rank, want.create))
    drops.sort(key=lambda d: -d[0])
    makes.sort(key=lambda m: m[0])
    return [s for _, s in drops + makes]


def object_drift(live: Catalog, migrations: Catalog) -> list[Finding]:
    return [f for f in diff_catalogs(live, migrations, every_kind=True)
            if f.is_drift and f.object_type in OBJECT_TYPES]


def converge(read: Callable[[], Catalog], apply: Callable[[list[str]], None], migrations: Catalog,
             rounds: int = 4) -> Undo:
    """Round by round on a copy: a dropped and re-created view loses its grants and comments, which
    the next round finds missing and adds. `apply` runs one round's statements in one transaction
    (and raises what the server refused)."""
    done: list[str] = []
    drift = object_drift(read(), migrations)
    for _ in range(rounds):
        statements = undo_statements(drift, read(), migrations)
        if not statements:
            break
        try:
            apply(statements)
        except Exception as exc:  # the server's refusal is the answer: reported, not raised
            return Undo(tuple(done), tuple(drift), f"{type(exc).__name__}: {exc}".strip())
        done += statements
        drift = object_drift(read(), migrations)
    return Undo(tuple(done), tuple(drift))


def script(undo: Undo) -> str:
    """The file a DBA reviews and runs against the live database: one transaction."""
    body = ";\n".join(undo.statements)
    notes = "".join(f"-- not undone: {f.kind} {f.object}\n" for f in undo.remaining)
    return f"-- driftbot: back to what the migrations build\n{notes}BEGIN;\n{body};\nCOMMIT;\n" if body else notes
