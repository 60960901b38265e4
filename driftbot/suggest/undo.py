"""Toward the migrations: the SQL that brings a live database's views, functions, triggers, policies,
grants, ... back to what its migrations build (undo the hand changes; issue 12, `--fix-to migrations`).

Pure functions from findings and the two catalogs to statements, plus `converge`, which applies
them round by round to a scratch copy and re-reads it until nothing of these kinds differs. What is
created comes from the migrations' database, never from the live one (its definitions are
untrusted); what is dropped is named by the server's own quoting (objects.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from driftbot.compare.catalog import Catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.compare.kinds import OBJECT_TYPES
from driftbot.compare.objects import SchemaObject
from driftbot.safety.sqlnames import qualified, quote_ident

# Kinds in creation order: what breaks ties where pg_depend does not order two statements; drops go the other way.
ORDER = (
    "schema",
    "extension",
    "collation",
    "domain",
    "composite_type",
    "range_type",
    "function",
    "procedure",
    "aggregate",
    "partition",
    "inheritance",
    "table_options",
    "view",
    "materialized_view",
    "trigger",
    "row_security",
    "policy",
    "rule",
    "grant",
    "comment",
)
# a table's partitioning scheme cannot change in place: the table is rebuilt, which is the DBA's call
NOT_UNDONE = frozenset({"partition_key"})


@dataclass(frozen=True)
class Undo:
    statements: tuple[str, ...]
    remaining: tuple[Finding, ...]  # still different after the last round (or not undoable)
    error: str | None = None  # the statement the copy refused, and why


def _returns(definition: str) -> str:
    return next((line for line in definition.splitlines() if line.strip().startswith("RETURNS ")), "")


def replaceable(live: SchemaObject, target: SchemaObject) -> bool:
    """Whether `target`'s replace statement turns `live` into it in place."""
    if not target.replace:
        return False
    if target.type == "function":  # CREATE OR REPLACE cannot change what a function returns
        return _returns(live.definition) == _returns(target.definition)
    return True


Key = tuple[str, str]  # (type, path)


def undo_statements(findings: Iterable[Finding], live: Catalog, migrations: Catalog) -> list[str]:
    """The statements that bring `live`'s objects to what the migrations build (see `object_steps`)."""
    keys = [
        (f.object_type, f.object)
        for f in findings
        if f.object_type in OBJECT_TYPES and f.object_type not in NOT_UNDONE and f.is_drift
    ]
    before, after = object_steps(keys, live, migrations)
    return before + after


def object_steps(
    keys: Iterable[Key],
    have: Catalog,
    want: Catalog,
    *,
    in_place: Callable[[SchemaObject, SchemaObject], bool] = replaceable,
    drop_of: Callable[[SchemaObject], str] = lambda o: o.drop,
    create_of: Callable[[SchemaObject], str] = lambda o: o.create,
) -> tuple[list[str], list[str]]:
    """(drops, then makes) that turn `have`'s objects named by `keys` into `want`'s: drops dependents
    first, in-place changes and creates dependencies first, in the order PostgreSQL's own dependencies
    (pg_depend) ask for; the kind order only breaks ties. What depends on a dropped object goes with it
    and comes back as `want` has it (a view on the view, a trigger whose WHEN calls the function, a
    column default that calls it). --fix-to live puts its table ops between the two lists."""
    drops: dict[Key, SchemaObject] = {}
    makes: dict[Key, tuple[SchemaObject, str]] = {}
    for key in dict.fromkeys(keys):
        old, new = have.objects.get(key[0], {}).get(key[1]), want.objects.get(key[0], {}).get(key[1])
        if old is not None and new is not None and in_place(old, new):
            makes[key] = (new, new.replace)
            continue
        if old is not None and old.drop:
            drops[key] = old
        if new is not None and new.create:
            makes[key] = (new, create_of(new))
    defaults = _take_dependents(drops, makes, have, want)
    ordered_drops = _ordered(drops, have, dropping=True)
    ordered_makes = _ordered({k: obj for k, (obj, _) in makes.items()}, want, dropping=False)
    return (
        [s for s, _ in defaults] + [drop_of(drops[k]) for k in ordered_drops],
        [makes[k][1] for k in ordered_makes] + [s for _, s in defaults if s],
    )


def _take_dependents(
    drops: dict[Key, SchemaObject], makes: dict[Key, tuple[SchemaObject, str]], live: Catalog, migrations: Catalog
) -> list[tuple[str, str]]:
    """Add to `drops` (and `makes`, from the migrations) what depends on a dropped object; return the
    column defaults among them: (drop it, set it again as the migrations have it)."""
    by_ref = {o.ref: (kind, path) for kind, by_path in live.objects.items() for path, o in by_path.items() if o.ref}
    defaults: list[tuple[str, str]] = []
    for ref in sorted(live.dependencies.dependents(o.ref for o in drops.values() if o.ref)):
        if ref in by_ref:
            key = by_ref[ref]
            have, want = live.objects[key[0]][key[1]], migrations.objects.get(key[0], {}).get(key[1])
            if have.drop:
                drops[key] = have
            if want is not None and want.create:
                makes[key] = (want, want.create)  # dropped first, so made anew even where it could be replaced
        elif ref in live.dependencies.defaults:
            defaults.append(_default_again(live.dependencies.defaults[ref], migrations))
    return defaults


def _default_again(where: tuple[str, str, str], migrations: Catalog) -> tuple[str, str]:
    schema, table, column = where
    alter = f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {quote_ident(column)}"
    built = migrations.tables.get((schema, table))
    default = built.columns[column].default if built is not None and column in built.columns else None
    return f"{alter} DROP DEFAULT", f"{alter} SET DEFAULT {default}" if default is not None else ""


def _ordered(objects: dict[Key, SchemaObject], catalog: Catalog, *, dropping: bool) -> list[Key]:
    """`objects` in an order where each comes after what it depends on in `catalog` (before, when
    `dropping`); among those free to go, by kind (ORDER; reversed for drops), then as given."""
    among = {o.ref: key for key, o in objects.items() if o.ref}
    first: dict[Key, set[Key]] = {key: set() for key in objects}  # key -> what must go before it
    for key, o in objects.items():
        for ref in catalog.dependencies.needs(o.ref, among) if o.ref else ():
            if dropping:
                first[among[ref]].add(key)
            else:
                first[key].add(among[ref])
    position = {key: i for i, key in enumerate(objects)}

    def priority(key: Key) -> tuple[int, int]:
        rank = ORDER.index(key[0])
        return (-rank if dropping else rank, position[key])

    done: list[Key] = []
    ready = [(priority(k), k) for k, before in first.items() if not before]
    heapq.heapify(ready)
    while ready:
        _, key = heapq.heappop(ready)
        done.append(key)
        for other, before in first.items():
            if key in before:
                before.discard(key)
                if not before:
                    heapq.heappush(ready, (priority(other), other))
    # a cycle (PostgreSQL allows none among these): the rest by kind, and the server says what it refuses
    return done + sorted((k for k in objects if k not in done), key=priority)


def object_drift(live: Catalog, migrations: Catalog) -> list[Finding]:
    return [f for f in diff_catalogs(live, migrations, every_kind=True) if f.is_drift and f.object_type in OBJECT_TYPES]


def converge(
    read: Callable[[], Catalog], apply: Callable[[list[str]], None], migrations: Catalog, rounds: int = 4
) -> Undo:
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
