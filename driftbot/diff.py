"""Stage 3b: compare two catalog snapshots (M: migrations, O: models) into Findings.

One small comparer per kind of object, each a pure function of the two snapshots.
Indexes and constraints are matched by definition first and by name second, so a naming
difference is a low-severity `*_renamed` finding rather than a drop plus an add.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from driftbot.catalog import Catalog, Column, EnumType, Index, Table
from driftbot.findings import Finding, Severity

T = TypeVar("T")

CONSTRAINT_KINDS = {"p": "primary_key", "u": "unique", "f": "foreign_key", "c": "check",
                    "x": "exclusion"}
CONSTRAINT_OBJECT_TYPES = {"p": "primary_key", "u": "unique_constraint",
                           "f": "foreign_key_constraint", "c": "check_constraint",
                           "x": "exclusion_constraint"}

# Spellings PostgreSQL keeps apart that mean the same value.
_SAME_FUNCTIONS = {"current_timestamp": "now()", "transaction_timestamp()": "now()",
                   "'t'": "true", "'f'": "false", "'true'": "true", "'false'": "false"}
_QUOTED_NUMBER = re.compile(r"'(-?\d+(?:\.\d+)?)'")
_SINGLE_TERM = re.compile(r"(?<![\w])\(\s*(\w+|'[^']*')\s*\)")
_CAST = re.compile(r"::(?:\"?[a-z_][a-z0-9_ ]*\"?(?:\(\d+(?:,\s*\d+)?\))?)(?:\[\])*")


def normalize_expression(expr: str) -> str:
    """A canonical form for expressions that differ only in casts, parens or synonyms."""
    s = _CAST.sub("", expr.strip().lower())
    for spelling, canonical in _SAME_FUNCTIONS.items():
        s = re.sub(rf"(?<![\w']){re.escape(spelling)}(?![\w'])", canonical, s)
    s = re.sub(r"\s+", " ", s)
    s = _QUOTED_NUMBER.sub(r"\1", s)  # '0'::numeric and 0 are the same default
    while s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]):
        s = s[1:-1].strip()
    # Parentheses around a single term carry no meaning: "(0)" is "0".
    previous = None
    while previous != s:
        previous, s = s, _SINGLE_TERM.sub(r"\1", s)
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def equivalent(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and normalize_expression(a) == normalize_expression(b)


@dataclass(frozen=True)
class Place:
    """Where a finding is: its dotted path and the parts include_object hooks look at."""

    object: str
    object_type: str
    schema: str | None = None
    table: str | None = None
    name: str | None = None

    def finding(self, kind: str, severity: Severity, migrations: str | None, models: str | None,
                detail: str = "") -> Finding:
        return Finding(kind, self.object, severity, migrations, models, detail, self.object_type,
                       self.schema, self.table, self.name)


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
    lines += [f"CONSTRAINT {c.name} {c.definition}" for c in t.constraints.values()]
    body = ",\n    ".join(lines)
    ddl = f"CREATE TABLE {t.schema}.{t.name} (\n    {body}\n)"
    return "\n".join([ddl, *(i.definition for i in t.indexes.values())])


@dataclass(frozen=True)
class Matches(Generic[T]):
    changed: list[tuple[T, T]]  # same name, different definition
    renamed: list[tuple[T, T]]  # same definition, different name
    only_m: list[T]
    only_o: list[T]


def match_named(m: Mapping[str, T], o: Mapping[str, T], shape: Callable[[T], str]) -> Matches[T]:
    """Pair objects by (name, definition), then by definition alone, then by name alone."""
    rest_m = {n: x for n, x in m.items() if not (n in o and shape(o[n]) == shape(x))}
    rest_o = {n: x for n, x in o.items() if not (n in m and shape(m[n]) == shape(x))}
    renamed: list[tuple[T, T]] = []
    for name_m, x in list(rest_m.items()):
        partner = next((n for n, y in rest_o.items() if shape(y) == shape(x) and n not in rest_m), None)
        if partner is not None:
            renamed.append((x, rest_o.pop(partner)))
            del rest_m[name_m]
    changed = [(rest_m.pop(n), rest_o.pop(n)) for n in sorted(set(rest_m) & set(rest_o))]
    return Matches(changed, renamed, list(rest_m.values()), list(rest_o.values()))


def diff_catalogs(m: Catalog, o: Catalog) -> list[Finding]:
    findings = [f for comparer in CATALOG_COMPARERS for f in comparer(m, o)]
    return sorted(findings, key=lambda f: (f.object, f.kind))


def compare_tables(m: Catalog, o: Catalog) -> Iterator[Finding]:
    for key in sorted(m.tables.keys() | o.tables.keys()):
        schema, name = key
        mt, ot = m.tables.get(key), o.tables.get(key)
        base = Place(f"{schema}.{name}", "table", schema, name, name)
        if mt is None and ot is not None:
            yield base.finding("table_missing", severity="high", migrations=None,
                          models=table_definition(ot))
        elif ot is None and mt is not None:
            yield base.finding("table_extra", severity="high", migrations=table_definition(mt),
                          models=None)
        elif mt is not None and ot is not None:
            for comparer in TABLE_COMPARERS:
                yield from comparer(mt, ot)


def compare_table_comment(mt: Table, ot: Table) -> Iterator[Finding]:
    if mt.comment != ot.comment:
        place = Place(f"{mt.schema}.{mt.name}", "table", mt.schema, mt.name, mt.name)
        yield place.finding("table_comment_changed", "high", mt.comment, ot.comment)


def compare_columns(mt: Table, ot: Table) -> Iterator[Finding]:
    for name in [*ot.columns, *(c for c in mt.columns if c not in ot.columns)]:
        mc, oc = mt.columns.get(name), ot.columns.get(name)
        where = _where(mt, name, "column")
        if mc is None and oc is not None:
            yield where.finding("column_missing", severity="high", migrations=None,
                          models=column_definition(oc))
        elif oc is None and mc is not None:
            yield where.finding("column_extra", severity="high", migrations=column_definition(mc),
                          models=None)
        elif mc is not None and oc is not None:
            yield from _column_aspects(mc, oc, where)


_COLUMN_ASPECTS: tuple[tuple[str, Callable[[Column], str | None]], ...] = (
    ("column_type_changed", lambda c: c.type),
    ("column_nullable_changed", lambda c: "NULL" if c.nullable else "NOT NULL"),
    ("column_identity_changed", lambda c: c.identity),
    ("column_generated_changed", lambda c: c.generated),
    ("column_comment_changed", lambda c: c.comment),
    ("column_collation_changed", lambda c: c.collation),
)


def _serial(c: Column) -> str | None:
    """A serial column's nextval() default is its sequence-backed identity."""
    return f"DEFAULT {c.default}" if c.default and c.default.startswith("nextval(") else None


def _column_aspects(mc: Column, oc: Column, where: Place) -> Iterator[Finding]:
    if (mc.identity is None) != (oc.identity is None) and (_serial(mc) or _serial(oc)):
        # serial on one side, identity on the other: one change, reported as identity
        yield where.finding("column_identity_changed", severity="high", migrations=mc.identity or _serial(mc),
                      models=oc.identity or _serial(oc))
        mc, oc = replace(mc, default=None, identity=None), replace(oc, default=None, identity=None)
    for kind, aspect in _COLUMN_ASPECTS:
        if aspect(mc) != aspect(oc):
            severity: Severity = "high"
            if kind == "column_generated_changed" and equivalent(mc.generated, oc.generated):
                severity = "info"
            yield where.finding(kind, severity=severity, migrations=aspect(mc), models=aspect(oc))
    if mc.default != oc.default:
        if mc.default is None:
            kind = "column_default_added"
        elif oc.default is None:
            kind = "column_default_removed"
        else:
            kind = "column_default_changed"
        same = equivalent(mc.default, oc.default)
        yield where.finding(kind, severity="info" if same else "high", migrations=mc.default,
                      models=oc.default,
                      detail="PostgreSQL stores these differently; they mean the same" if same else "")


def compare_constraints(mt: Table, ot: Table) -> Iterator[Finding]:
    matches = match_named(mt.constraints, ot.constraints, lambda c: f"{c.type}:{c.definition}")
    kind = lambda c: CONSTRAINT_KINDS[c.type]  # noqa: E731
    yield from _named_findings(mt, matches, kind, lambda c: c.definition,
                               lambda c: CONSTRAINT_OBJECT_TYPES[c.type])


def compare_indexes(mt: Table, ot: Table) -> Iterator[Finding]:
    matches = match_named(mt.indexes, ot.indexes, lambda i: i.shape)
    for mi, oi in matches.changed:
        aspects = _index_aspects(mi, oi)
        where = _where(mt, oi.name, "index")
        severity: Severity = "info" if equivalent(mi.shape, oi.shape) else "high"
        yield where.finding("index_changed", severity=severity, migrations=mi.definition,
                      models=oi.definition, detail=f"differs in: {', '.join(aspects)}")
    yield from _named_findings(mt, Matches([], matches.renamed, matches.only_m, matches.only_o),
                               lambda _: "index", lambda i: i.definition, lambda _: "index")


def _index_aspects(mi: Index, oi: Index) -> list[str]:
    aspects = [name for name, differs in (("unique", mi.unique != oi.unique),
                                          ("method", mi.method != oi.method),
                                          ("predicate", mi.predicate != oi.predicate)) if differs]
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


def _named_findings(t: Table, matches: Matches[N], kind: Callable[[N], str],
                    definition: Callable[[N], str], object_type: Callable[[N], str]) -> Iterator[Finding]:
    def place(x: N) -> Place:
        return _where(t, x.name, object_type(x))

    for x_m, x_o in matches.changed:
        severity: Severity = "info" if equivalent(definition(x_m), definition(x_o)) else "high"
        yield place(x_o).finding(f"{kind(x_o)}_changed", severity, definition(x_m), definition(x_o))
    for x_m, x_o in matches.renamed:
        yield place(x_o).finding(f"{kind(x_o)}_renamed", "low", x_m.name, x_o.name,
                                 detail=f"same definition, named {x_m.name} by the migrations and "
                                        f"{x_o.name} by the models: {definition(x_o)}")
    for x in matches.only_o:
        yield place(x).finding(f"{kind(x)}_missing", "high", None, definition(x))
    for x in matches.only_m:
        yield place(x).finding(f"{kind(x)}_extra", "high", definition(x), None)


def _enum_text(e: EnumType | None) -> str | None:
    return None if e is None else "ENUM ({})".format(", ".join(repr(label) for label in e.labels))


def compare_enums(m: Catalog, o: Catalog) -> Iterator[Finding]:
    for key in sorted(m.enums.keys() | o.enums.keys()):
        me, oe = m.enums.get(key), o.enums.get(key)
        where = Place(".".join(key), "enum", key[0], None, key[1])
        sides = (_enum_text(me), _enum_text(oe))
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


def compare_sequences(m: Catalog, o: Catalog) -> Iterator[Finding]:
    for key in sorted(m.sequences.keys() | o.sequences.keys()):
        ms, os_ = m.sequences.get(key), o.sequences.get(key)
        where = Place(".".join(key), "sequence", key[0], None, key[1])
        mdef = ms.definition if ms else None
        odef = os_.definition if os_ else None
        if mdef == odef:
            continue
        kind = "sequence_missing" if ms is None else "sequence_extra" if os_ is None else "sequence_changed"
        yield where.finding(kind, severity="high", migrations=mdef, models=odef)


TABLE_COMPARERS: tuple[Callable[[Table, Table], Iterable[Finding]], ...] = (
    compare_table_comment, compare_columns, compare_constraints, compare_indexes,
)
CATALOG_COMPARERS: tuple[Callable[[Catalog, Catalog], Iterable[Finding]], ...] = (
    compare_tables, compare_enums, compare_sequences,
)
