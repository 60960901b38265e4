"""Stage 3b: compare two catalog snapshots (M: migrations, O: models) into Findings.

One small comparer per kind of object, each a pure function of the two snapshots.
Indexes and constraints are matched by definition first and by name second, so a naming
difference is a low-severity `*_renamed` finding rather than a drop plus an add.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from driftbot.catalog import Catalog, Column, Index, Table
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
        base = {"object": f"{schema}.{name}", "object_type": "table", "schema": schema,
                "table": name, "name": name}
        if mt is None and ot is not None:
            yield Finding("table_missing", severity="high", migrations=None,
                          models=table_definition(ot), **base)
        elif ot is None and mt is not None:
            yield Finding("table_extra", severity="high", migrations=table_definition(mt),
                          models=None, **base)
        elif mt is not None and ot is not None:
            for comparer in TABLE_COMPARERS:
                yield from comparer(mt, ot)


def compare_table_comment(mt: Table, ot: Table) -> Iterator[Finding]:
    if mt.comment != ot.comment:
        yield Finding("table_comment_changed", f"{mt.schema}.{mt.name}", "high", mt.comment,
                      ot.comment, object_type="table", schema=mt.schema, table=mt.name, name=mt.name)


def compare_columns(mt: Table, ot: Table) -> Iterator[Finding]:
    for name in [*ot.columns, *(c for c in mt.columns if c not in ot.columns)]:
        mc, oc = mt.columns.get(name), ot.columns.get(name)
        where = {"object": f"{mt.schema}.{mt.name}.{name}", "object_type": "column",
                 "schema": mt.schema, "table": mt.name, "name": name}
        if mc is None and oc is not None:
            yield Finding("column_missing", severity="high", migrations=None,
                          models=column_definition(oc), **where)
        elif oc is None and mc is not None:
            yield Finding("column_extra", severity="high", migrations=column_definition(mc),
                          models=None, **where)
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


def _column_aspects(mc: Column, oc: Column, where: dict[str, str]) -> Iterator[Finding]:
    if (mc.identity is None) != (oc.identity is None) and (_serial(mc) or _serial(oc)):
        # serial on one side, identity on the other: one change, reported as identity
        yield Finding("column_identity_changed", severity="high", migrations=mc.identity or _serial(mc),
                      models=oc.identity or _serial(oc), **where)
        mc, oc = replace(mc, default=None, identity=None), replace(oc, default=None, identity=None)
    for kind, aspect in _COLUMN_ASPECTS:
        if aspect(mc) != aspect(oc):
            severity: Severity = "high"
            if kind == "column_generated_changed" and equivalent(mc.generated, oc.generated):
                severity = "info"
            yield Finding(kind, severity=severity, migrations=aspect(mc), models=aspect(oc), **where)
    if mc.default != oc.default:
        if mc.default is None:
            kind = "column_default_added"
        elif oc.default is None:
            kind = "column_default_removed"
        else:
            kind = "column_default_changed"
        same = equivalent(mc.default, oc.default)
        yield Finding(kind, severity="info" if same else "high", migrations=mc.default,
                      models=oc.default,
                      detail="PostgreSQL stores these differently; they mean the same" if same else "",
                      **where)


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
        yield Finding("index_changed", severity=severity, migrations=mi.definition,
                      models=oi.definition, detail=f"differs in: {', '.join(aspects)}", **where)
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


def _where(t: Table, name: str, object_type: str) -> dict[str, str]:
    return {"object": f"{t.schema}.{t.name}.{name}", "object_type": object_type,
            "schema": t.schema, "table": t.name, "name": name}


def _named_findings(t: Table, matches: Matches[T], kind: Callable[[T], str],
                    definition: Callable[[T], str], object_type: Callable[[T], str]) -> Iterator[Finding]:
    name: Callable[[T], str] = lambda x: x.name  # type: ignore[attr-defined]  # noqa: E731
    for x_m, x_o in matches.changed:
        severity: Severity = "info" if equivalent(definition(x_m), definition(x_o)) else "high"
        yield Finding(f"{kind(x_o)}_changed", severity=severity, migrations=definition(x_m),
                      models=definition(x_o), **_where(t, name(x_o), object_type(x_o)))
    for x_m, x_o in matches.renamed:
        yield Finding(f"{kind(x_o)}_renamed", severity="low", migrations=name(x_m), models=name(x_o),
                      detail=f"same definition, named {name(x_m)} by the migrations and "
                             f"{name(x_o)} by the models: {definition(x_o)}",
                      **_where(t, name(x_o), object_type(x_o)))
    for x in matches.only_o:
        yield Finding(f"{kind(x)}_missing", severity="high", migrations=None, models=definition(x),
                      **_where(t, name(x), object_type(x)))
    for x in matches.only_m:
        yield Finding(f"{kind(x)}_extra", severity="high", migrations=definition(x), models=None,
                      **_where(t, name(x), object_type(x)))


def compare_enums(m: Catalog, o: Catalog) -> Iterator[Finding]:
    for key in sorted(m.enums.keys() | o.enums.keys()):
        me, oe = m.enums.get(key), o.enums.get(key)
        where = {"object": ".".join(key), "object_type": "enum", "schema": key[0], "name": key[1]}
        render = lambda e: ", ".join(repr(label) for label in e.labels)  # noqa: E731
        if me is None or oe is None:
            kind = "enum_missing" if me is None else "enum_extra"
            yield Finding(kind, severity="high", migrations=me and f"ENUM ({render(me)})",
                          models=oe and f"ENUM ({render(oe)})", **where)
            continue
        added = [v for v in oe.labels if v not in me.labels]
        removed = [v for v in me.labels if v not in oe.labels]
        common_m = [v for v in me.labels if v in oe.labels]
        common_o = [v for v in oe.labels if v in me.labels]
        sides = {"migrations": f"ENUM ({render(me)})", "models": f"ENUM ({render(oe)})"}
        if added:
            yield Finding("enum_values_added", severity="high", detail=f"added: {added}",
                          **sides, **where)
        if removed:
            yield Finding("enum_values_removed", severity="high", detail=f"removed: {removed}",
                          **sides, **where)
        if common_m != common_o:
            yield Finding("enum_values_reordered", severity="high", detail="same values, other order",
                          **sides, **where)


def compare_sequences(m: Catalog, o: Catalog) -> Iterator[Finding]:
    for key in sorted(m.sequences.keys() | o.sequences.keys()):
        ms, os_ = m.sequences.get(key), o.sequences.get(key)
        where = {"object": ".".join(key), "object_type": "sequence", "schema": key[0], "name": key[1]}
        mdef, odef = ms and ms.definition, os_ and os_.definition
        if mdef == odef:
            continue
        kind = "sequence_missing" if ms is None else "sequence_extra" if os_ is None else "sequence_changed"
        yield Finding(kind, severity="high", migrations=mdef, models=odef, **where)


TABLE_COMPARERS: tuple[Callable[[Table, Table], Iterable[Finding]], ...] = (
    compare_table_comment, compare_columns, compare_constraints, compare_indexes,
)
CATALOG_COMPARERS: tuple[Callable[[Catalog, Catalog], Iterable[Finding]], ...] = (
    compare_tables, compare_enums, compare_sequences,
)
