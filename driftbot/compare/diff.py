"""Stage 3b: compare two catalog snapshots (M: migrations, O: models) into Findings.

One small comparer per kind of object, each a pure function of the two snapshots.
Indexes and constraints are matched by definition first and by name second, so a naming
difference is a low-severity `*_renamed` finding rather than a drop plus an add.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from driftbot.compare.catalog import Catalog, Column, Constraint, EnumType, Index, Table
from driftbot.compare.equivalence import Judge, Verdict
from driftbot.compare.findings import Finding, Severity
from driftbot.compare.kinds import CONSTRAINT_KINDS, CONSTRAINT_OBJECT_TYPES, OBJECT_TYPES
from driftbot.compare.objects import SchemaObject

T = TypeVar("T")

__all__ = ["CONSTRAINT_KINDS", "CONSTRAINT_OBJECT_TYPES", "diff_catalogs"]  # the kinds live in kinds.py

# What a verdict of equivalence.py means for a finding: only a name differs is low.
VERDICT_SEVERITY: dict[Verdict, Severity] = {"same": "info", "renamed": "low", "different": "high"}
SAME_DETAIL = "PostgreSQL stores these differently; they mean the same"


@dataclass(frozen=True)
class Place:
    """Where a finding is: its dotted path and the parts include_object hooks look at."""

    object: str
    object_type: str
    schema: str | None = None
    table: str | None = None
    name: str | None = None

    def finding(
        self, kind: str, severity: Severity, migrations: str | None, models: str | None, detail: str = ""
    ) -> Finding:
        return Finding(
            kind,
            self.object,
            severity,
            migrations,
            models,
            detail,
            self.object_type,
            self.schema,
            self.table,
            self.name,
        )


def column_definition(c: Column) -> str:
    parts = [c.type]
    if c.collation:
        parts.append(f'COLLATE "{c.collation}"')
    if not c.nullable:
        parts.append("NOT NULL")
    if c.default is not None:
        parts.append(f"DEFAULT {c.default}")
    if c.identity:
        parts.append(c.identity)
    if c.generated:
        parts.append(f"GENERATED ALWAYS AS ({c.generated}) STORED")
    return " ".join(parts)


def table_definition(t: Table) -> str:
    lines = [f"{name} {column_definition(c)}" for name, c in t.columns.items()]
    # by name, not in catalog (creation) order: a restored copy of the same schema creates them in another order
    lines += [f"CONSTRAINT {c.name} {c.definition}" for c in sorted(t.constraints.values(), key=lambda c: c.name)]
    body = ",\n    ".join(lines)
    ddl = f"CREATE TABLE {t.schema}.{t.name} (\n    {body}\n)"
    return "\n".join([ddl, *(i.definition for i in sorted(t.indexes.values(), key=lambda i: i.name))])


@dataclass(frozen=True)
class Matches(Generic[T]):
    changed: list[tuple[T, T]]  # same name, different definition
    renamed: list[tuple[T, T]]  # same definition, different name
    only_m: list[T]
    only_o: list[T]


def match_named(
    m: Mapping[str, T],
    o: Mapping[str, T],
    shape: Callable[[T], Hashable],
    shape_o: Callable[[T], Hashable] | None = None,
    text: Callable[[T], str] | None = None,
) -> Matches[T]:
    """Pair objects by (name, definition), then by definition alone, then by name alone.

    `shape` is what "the same definition" compares (`shape_o` for the models' side, if other);
    `text`, when given, is a cheaper test that implies the same shape (identical definitions).
    """
    of_o = shape_o or shape
    keys_m: dict[str, Hashable] = {}
    keys_o: dict[str, Hashable] = {}

    def key_m(n: str) -> Hashable:
        if n not in keys_m:
            keys_m[n] = shape(m[n])
        return keys_m[n]

    def key_o(n: str) -> Hashable:
        if n not in keys_o:
            keys_o[n] = of_o(o[n])
        return keys_o[n]

    def same(n: str) -> bool:
        return n in m and n in o and ((text is not None and text(m[n]) == text(o[n])) or key_m(n) == key_o(n))

    rest_m = {n: x for n, x in m.items() if not same(n)}
    rest_o = {n: x for n, x in o.items() if not same(n)}
    renamed: list[tuple[T, T]] = []
    for name_m, x in list(rest_m.items()):
        partner = next((n for n in rest_o if n not in rest_m and key_o(n) == key_m(name_m)), None)
        if partner is not None:
            renamed.append((x, rest_o.pop(partner)))
            del rest_m[name_m]
    changed = [(rest_m.pop(n), rest_o.pop(n)) for n in sorted(set(rest_m) & set(rest_o))]
    return Matches(changed, renamed, list(rest_m.values()), list(rest_o.values()))


def diff_catalogs(m: Catalog, o: Catalog, *, every_kind: bool = False) -> list[Finding]:
    """Each side's constants as its own server evaluated them (read_catalog), so no connection here.

    `every_kind`: compare views, functions, triggers, grants, ... too (objects.py). Only two
    databases that both could have them are compared so (the live one, the migrations'). Against
    the models' database (`declared_only`) only the objects the project declares beside its models
    are (alembic_utils, declarative-extensions): anything else would be drift that models can't fix.
    """
    judge = Judge(m.constants, o.constants)
    findings = [f for comparer in CATALOG_COMPARERS for f in comparer(m, o, judge)]
    if every_kind:
        findings += compare_objects(m, o)
    elif m.declared_only or o.declared_only:
        keys = _declared_keys(m) | _declared_keys(o)
        findings += compare_objects(_only(m, keys), _only(o, keys))
    return sorted(findings, key=lambda f: (f.object, f.kind))


def compare_tables(m: Catalog, o: Catalog, judge: Judge) -> Iterator[Finding]:
    for key in sorted(m.tables.keys() | o.tables.keys()):
        schema, name = key
        mt, ot = m.tables.get(key), o.tables.get(key)
        base = Place(f"{schema}.{name}", "table", schema, name, name)
        if mt is None and ot is not None:
            yield base.finding("table_missing", severity="high", migrations=None, models=table_definition(ot))
        elif ot is None and mt is not None:
            yield base.finding("table_extra", severity="high", migrations=table_definition(mt), models=None)
        elif mt is not None and ot is not None:
            for comparer in TABLE_COMPARERS:
                yield from comparer(mt, ot, judge)


def compare_table_comment(mt: Table, ot: Table, judge: Judge) -> Iterator[Finding]:
    if mt.comment != ot.comment:
        place = Place(f"{mt.schema}.{mt.name}", "table", mt.schema, mt.name, mt.name)
        yield place.finding("table_comment_changed", "high", mt.comment, ot.comment)


def compare_columns(mt: Table, ot: Table, judge: Judge) -> Iterator[Finding]:
    for name in [*ot.columns, *(c for c in mt.columns if c not in ot.columns)]:
        mc, oc = mt.columns.get(name), ot.columns.get(name)
        where = _where(mt, name, "column")
        if mc is None and oc is not None:
            yield where.finding("column_missing", severity="high", migrations=None, models=column_definition(oc))
        elif oc is None and mc is not None:
            yield where.finding("column_extra", severity="high", migrations=column_definition(mc), models=None)
        elif mc is not None and oc is not None:
            yield from _column_aspects(mc, oc, where, judge)


_COLUMN_ASPECTS: tuple[tuple[str, Callable[[Column], str | None]], ...] = (
    ("column_type_changed", lambda c: c.type),
    ("column_nullable_changed", lambda c: "NULL" if c.nullable else "NOT NULL"),
    ("column_identity_changed", lambda c: c.identity),
    ("column_generated_changed", lambda c: c.generated),
    ("column_comment_changed", lambda c: c.comment),
    ("column_collation_changed", lambda c: c.collation),
)


def serial_identity(c: Column) -> str | None:
    """A serial column's nextval() default is its sequence-backed identity."""
    return f"DEFAULT {c.default}" if c.default and c.default.startswith("nextval(") else None


def _column_aspects(mc: Column, oc: Column, where: Place, judge: Judge) -> Iterator[Finding]:
    if (mc.identity is None) != (oc.identity is None) and (serial_identity(mc) or serial_identity(oc)):
        # serial on one side, identity on the other: one change, reported as identity
        yield where.finding(
            "column_identity_changed",
            severity="high",
            migrations=mc.identity or serial_identity(mc),
            models=oc.identity or serial_identity(oc),
        )
        mc, oc = replace(mc, default=None, identity=None), replace(oc, default=None, identity=None)
    for kind, aspect in _COLUMN_ASPECTS:
        if aspect(mc) != aspect(oc):
            severity: Severity = "high"
            if kind == "column_generated_changed":
                severity = VERDICT_SEVERITY[judge.expression(mc.generated, oc.generated)]
            yield where.finding(
                kind,
                severity=severity,
                migrations=aspect(mc),
                models=aspect(oc),
                detail=SAME_DETAIL if severity == "info" else "",
            )
    if mc.default != oc.default:
        yield _default_finding(mc, oc, where, judge)


def _default_finding(mc: Column, oc: Column, where: Place, judge: Judge) -> Finding:
    kind = (
        "column_default_added"
        if mc.default is None
        else "column_default_removed"
        if oc.default is None
        else "column_default_changed"
    )
    verdict = judge.default(mc.default, mc.type, oc.default, oc.type)
    detail = {"same": SAME_DETAIL, "different": "", "renamed": "only the name of the sequence it calls differs"}[
        verdict
    ]
    if verdict == "same" and (mc.default is None or oc.default is None):
        detail = "a NULL default and no default insert the same NULL"
    if verdict == "renamed" and mc.default_sequence and oc.default_sequence:
        detail += f": {'.'.join(mc.default_sequence)} by the migrations, {'.'.join(oc.default_sequence)} by the models"
    return where.finding(kind, VERDICT_SEVERITY[verdict], mc.default, oc.default, detail)


def compare_constraints(mt: Table, ot: Table, judge: Judge) -> Iterator[Finding]:
    """Matched by their parse trees (equivalence.py), so a spelling is never a rename or a change."""
    cm, co = judge.canons()
    matches = match_named(
        mt.constraints,
        ot.constraints,
        lambda c: cm.constraint(c.definition),
        lambda c: co.constraint(c.definition),
        text=lambda c: f"{c.type}:{c.definition}",
    )

    def kind(c: Constraint) -> str:
        return CONSTRAINT_KINDS[c.type]

    def object_type(c: Constraint) -> str:
        return CONSTRAINT_OBJECT_TYPES[c.type]

    yield from _spelled_apart(
        mt, matches, mt.constraints, ot.constraints, lambda c: c.definition, lambda c: f"{kind(c)}_changed", object_type
    )

    def verdict(a: Constraint, b: Constraint) -> Verdict:
        return judge.constraint(a.definition, b.definition)

    yield from _named_findings(mt, matches, kind, lambda c: c.definition, object_type, verdict)


def compare_indexes(mt: Table, ot: Table, judge: Judge) -> Iterator[Finding]:
    cm, co = judge.canons()
    matches = match_named(
        mt.indexes,
        ot.indexes,
        lambda i: cm.index(i.definition),
        lambda i: co.index(i.definition),
        text=lambda i: i.definition,
    )
    yield from _spelled_apart(
        mt, matches, mt.indexes, ot.indexes, lambda i: i.definition, lambda _: "index_changed", lambda _: "index"
    )
    for mi, oi in matches.changed:
        aspects = _index_aspects(mi, oi)
        where = _where(mt, oi.name, "index")
        severity = VERDICT_SEVERITY[judge.index(mi.definition, oi.definition)]
        yield where.finding(
            "index_changed",
            severity=severity,
            migrations=mi.definition,
            models=oi.definition,
            detail=f"differs in: {', '.join(aspects)}",
        )
    yield from _named_findings(
        mt,
        Matches([], matches.renamed, matches.only_m, matches.only_o),
        lambda _: "index",
        lambda i: i.definition,
        lambda _: "index",
    )


def _spelled_apart(
    t: Table,
    matches: Matches[N],
    m: Mapping[str, N],
    o: Mapping[str, N],
    definition: Callable[[N], str],
    kind: Callable[[N], str],
    object_type: Callable[[N], str],
) -> Iterator[Finding]:
    """Same name, same tree, other text: a note (info), never drift."""
    paired = [x for pair in (*matches.changed, *matches.renamed) for x in pair]
    unmatched = {id(x) for x in (*paired, *matches.only_m, *matches.only_o)}
    for name, x_o in o.items():
        x_m = m.get(name)
        if x_m is None or id(x_m) in unmatched or id(x_o) in unmatched or definition(x_m) == definition(x_o):
            continue
        yield _where(t, name, object_type(x_o)).finding(
            kind(x_o), "info", definition(x_m), definition(x_o), detail=SAME_DETAIL
        )


def _index_aspects(mi: Index, oi: Index) -> list[str]:
    aspects = [
        name
        for name, differs in (
            ("unique", mi.unique != oi.unique),
            ("method", mi.method != oi.method),
            ("predicate", mi.predicate != oi.predicate),
        )
        if differs
    ]
    body = re.compile(r"USING \w+ \((.*?)\)(?: INCLUDE| WHERE|$)")
    mb, ob = body.search(mi.shape), body.search(oi.shape)
    if (mb and mb.group(1)) != (ob and ob.group(1)):
        aspects.insert(0, "columns or expressions")
    return aspects or ["definition"]


def _where(t: Table, name: str, object_type: str) -> Place:
    return Place(f"{t.schema}.{t.name}.{name}", object_type, t.schema, t.name, name)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _named_findings(
    t: Table,
    matches: Matches[N],
    kind: Callable[[N], str],
    definition: Callable[[N], str],
    object_type: Callable[[N], str],
    verdict: Callable[[N, N], Verdict] | None = None,
) -> Iterator[Finding]:
    def place(x: N) -> Place:
        return _where(t, x.name, object_type(x))

    for x_m, x_o in matches.changed:
        severity = VERDICT_SEVERITY[verdict(x_m, x_o) if verdict else "different"]
        yield place(x_o).finding(f"{kind(x_o)}_changed", severity, definition(x_m), definition(x_o))
    for x_m, x_o in matches.renamed:
        yield place(x_o).finding(
            f"{kind(x_o)}_renamed",
            "low",
            x_m.name,
            x_o.name,
            detail=f"same definition, named {x_m.name} by the migrations and "
            f"{x_o.name} by the models: {definition(x_o)}",
        )
    for x in matches.only_o:
        yield place(x).finding(f"{kind(x)}_missing", "high", None, definition(x))
    for x in matches.only_m:
        yield place(x).finding(f"{kind(x)}_extra", "high", definition(x), None)


def enum_definition(e: EnumType | None) -> str | None:
    """An enum as the text a finding shows: its labels in order."""
    return None if e is None else "ENUM ({})".format(", ".join(repr(label) for label in e.labels))


def compare_enums(m: Catalog, o: Catalog, judge: Judge) -> Iterator[Finding]:
    for key in sorted(m.enums.keys() | o.enums.keys()):
        me, oe = m.enums.get(key), o.enums.get(key)
        where = Place(".".join(key), "enum", key[0], None, key[1])
        sides = (enum_definition(me), enum_definition(oe))
        if me is None or oe is None:
            yield where.finding("enum_missing" if me is None else "enum_extra", "high", *sides)
            continue
        added = [v for v in oe.labels if v not in me.labels]
        removed = [v for v in me.labels if v not in oe.labels]
        common_m = [v for v in me.labels if v in oe.labels]
        common_o = [v for v in oe.labels if v in me.labels]
        if added:
            yield where.finding("enum_values_added", "high", *sides, detail=f"added: {added}")
        if removed:
            yield where.finding("enum_values_removed", "high", *sides, detail=f"removed: {removed}")
        if common_m != common_o:
            yield where.finding("enum_values_reordered", "high", *sides, detail="same values, other order")


def compare_sequences(m: Catalog, o: Catalog, judge: Judge) -> Iterator[Finding]:
    for key in sorted(m.sequences.keys() | o.sequences.keys()):
        ms, os_ = m.sequences.get(key), o.sequences.get(key)
        where = Place(".".join(key), "sequence", key[0], None, key[1])
        mdef = ms.definition if ms else None
        odef = os_.definition if os_ else None
        if mdef == odef:
            continue
        kind = "sequence_missing" if ms is None else "sequence_extra" if os_ is None else "sequence_changed"
        yield where.finding(kind, severity="high", migrations=mdef, models=odef)


TABLE_COMPARERS: tuple[Callable[[Table, Table, Judge], Iterable[Finding]], ...] = (
    compare_table_comment,
    compare_columns,
    compare_constraints,
    compare_indexes,
)
CATALOG_COMPARERS: tuple[Callable[[Catalog, Catalog, Judge], Iterable[Finding]], ...] = (
    compare_tables,
    compare_enums,
    compare_sequences,
)


def compare_objects(m: Catalog, o: Catalog) -> Iterator[Finding]:
    """Per kind, by dotted path: only on one side, or PostgreSQL renders it otherwise."""
    for kind in OBJECT_TYPES:
        mk, ok = m.objects.get(kind, {}), o.objects.get(kind, {})
        for path in sorted(mk.keys() | ok.keys()):
            mo, oo = mk.get(path), ok.get(path)
            if mo is not None and oo is not None and mo.definition == oo.definition:
                continue
            either = oo or mo
            assert either is not None
            change = "missing" if mo is None else "extra" if oo is None else "changed"
            yield _object_place(either).finding(f"{kind}_{change}", "high", _definition(mo), _definition(oo))


def _declared_keys(c: Catalog) -> set[tuple[str, str]]:
    return {(kind, p) for kind, by_path in c.objects.items() for p in by_path} if c.declared_only else set()


def _only(c: Catalog, keys: set[tuple[str, str]]) -> Catalog:
    return replace(
        c,
        objects={kind: {p: x for p, x in by_path.items() if (kind, p) in keys} for kind, by_path in c.objects.items()},
    )


def _object_place(x: SchemaObject) -> Place:
    return Place(x.path, x.type, x.schema, x.table, x.name)


def _definition(x: SchemaObject | None) -> str | None:
    return None if x is None else x.definition
