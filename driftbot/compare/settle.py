"""After the diff: constant defaults whose values differ in text, asked of PostgreSQL pairwise.

The catalog compares a constant default by its value's text output in the column's type
(equivalence.py), which is stricter than the type's own equality: numeric `1.0` and `1.00`,
citext `'A'` and `'a'`, interval `'1 day'` and `'24:00:00'` print apart but are not distinct.
Issue 11 asks PostgreSQL: both values cast to the column's type and compared with
`IS NOT DISTINCT FROM`, all pairs in one round trip, on a scratch database driftbot trusts.

Only PostgreSQL's code runs: every type a cast names is PostgreSQL's own or a base type of an
extension whose functions are C or internal (a domain's CHECK, or a function the database's owner
wrote in SQL, could do anything), the column type's `=` that `IS NOT DISTINCT FROM` resolves to is
such a function, and so is every cast function between the types involved. Anything else keeps
the diff's verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from pglast import ast
from sqlalchemy.engine import URL

from driftbot.compare.catalog import Catalog, Column
from driftbot.compare.equivalence import FIRST_NORMAL_OID, Rows, is_constant, parse_expression, sql_of, type_names_in
from driftbot.compare.findings import Finding
from driftbot.safety.containment import engine_for

log = logging.getLogger(__name__)

Settle = Callable[[Sequence[Finding], Catalog, Catalog], list[Finding]]


def unsettled(findings: Sequence[Finding], m: Catalog, o: Catalog) -> list[Finding]:
    """No server to ask: the diff's verdicts stand."""
    return list(findings)


@dataclass(frozen=True)
class DefaultPair:
    """Two constant defaults of one column, as SQL that is safe to evaluate once trusted."""

    index: int  # of its finding
    migrations: str  # CAST(...) text of the constant, re-rendered from its parse tree
    models: str
    column_type: str  # re-rendered from its parse tree too
    types: frozenset[str]  # every type name either side mentions, the column's included
    shown_type: str  # the column type as the catalog shows it

    def sql(self) -> str:
        return f"({self.migrations})::{self.column_type} IS NOT DISTINCT FROM ({self.models})::{self.column_type}"


def _column(catalog: Catalog, f: Finding) -> Column | None:
    table = catalog.tables.get((f.schema or "", f.table or ""))
    return table.columns.get(f.name or "") if table is not None else None


def _constant(text: str | None) -> ast.Node | None:
    tree = parse_expression(text) if text is not None else None
    return tree if tree is not None and is_constant(tree) else None


def _type_name(column_type: str) -> ast.TypeName | None:
    """The column type's tree (format_type's text), so that what is pasted is re-rendered, not copied."""
    tree = parse_expression(f"NULL::{column_type}")
    return tree.typeName if isinstance(tree, ast.TypeCast) else None


def default_pairs(findings: Sequence[Finding], m: Catalog, o: Catalog) -> list[DefaultPair]:
    """The default changes the diff calls different where both sides are constants of one column type."""
    pairs: list[DefaultPair] = []
    for i, f in enumerate(findings):
        if f.kind != "column_default_changed" or f.severity != "high":
            continue
        mc, oc = _column(m, f), _column(o, f)
        if mc is None or oc is None or mc.type != oc.type:
            continue  # a type change is a finding of its own; across types "the same value" is not defined
        a, b, t = _constant(mc.default), _constant(oc.default), _type_name(mc.type)
        if a is None or b is None or t is None:
            continue
        column_type = sql_of(t)
        pairs.append(
            DefaultPair(
                i,
                sql_of(a),
                sql_of(b),
                column_type,
                frozenset({column_type, *type_names_in(a), *type_names_in(b)}),
                mc.type,
            )
        )
    return pairs


# A function is PostgreSQL's own (created by initdb), or an extension's written in C or internal:
# code the server's administrator installed, never the database owner's.
_TRUSTED_FUNCTION = """({f} < {first} OR EXISTS (
    SELECT 1 FROM pg_depend e JOIN pg_proc p ON p.oid = e.objid JOIN pg_language l ON l.oid = p.prolang
    WHERE e.classid = 'pg_proc'::regclass AND e.objid = {f} AND e.deptype = 'e'
      AND e.refclassid = 'pg_extension'::regclass AND l.lanname IN ('c', 'internal')))"""


def _trusted(f: str) -> str:
    return _TRUSTED_FUNCTION.format(f=f, first=FIRST_NORMAL_OID)


TRUST_SQL = f"""
WITH n AS (SELECT name, to_regtype(name) AS oid FROM unnest(%s::text[]) AS name)
SELECT n.name,
       (t.oid < {FIRST_NORMAL_OID} OR (t.typtype = 'b' AND EXISTS (
           SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')
        AND {_trusted("t.typinput")} AND {_trusted("t.typoutput")})) AS trusted,
       EXISTS (SELECT 1 FROM pg_operator o WHERE o.oprname = '=' AND o.oprleft = t.oid AND o.oprright = t.oid
               AND pg_operator_is_visible(o.oid) AND {_trusted("o.oprcode")}) AS comparable,
       EXISTS (SELECT 1 FROM pg_cast c WHERE t.oid IN (c.castsource, c.casttarget) AND c.castfunc <> 0
               AND NOT {_trusted("c.castfunc")}) AS tainted
FROM n JOIN pg_type t ON t.oid = n.oid
"""


@dataclass(frozen=True)
class _TypeTrust:
    trusted: bool
    comparable: bool  # its `=` (what IS NOT DISTINCT FROM calls) is trusted
    tainted: bool  # a cast to or from it runs an untrusted function (checked per type: a literal's type is unnamed)


def _safe(pair: DefaultPair, types: dict[str, _TypeTrust]) -> bool:
    found = [types.get(name) for name in pair.types]
    column = types.get(pair.column_type)
    return (
        column is not None and column.comparable and all(t is not None and t.trusted and not t.tainted for t in found)
    )


def not_distinct(pairs: Sequence[DefaultPair], rows: Rows) -> dict[int, bool]:
    """Finding index -> whether PostgreSQL finds the two values not distinct, for the pairs it may
    evaluate: one query for which types are safe, one for all comparisons. Only if that fails (say a
    cast out of range) one query per pair, so that one bad pair spoils no other."""
    names = sorted({n for p in pairs for n in p.types})
    types = {r[0]: _TypeTrust(r[1], r[2], r[3]) for r in rows(TRUST_SQL, (names,))}
    safe = [p for p in pairs if _safe(p, types)]
    if not safe:
        return {}
    values = ", ".join(f"({p.index}, {p.sql()})" for p in safe)
    try:
        return {i: bool(same) for i, same in rows(f"SELECT * FROM (VALUES {values}) AS e(i, same)", ())}
    except psycopg.Error as exc:
        log.debug("comparing %d default(s) at once failed (%s); one by one", len(safe), exc)
    answers: dict[int, bool] = {}
    for p in safe:
        try:
            answers[p.index] = bool(rows(f"SELECT {p.sql()}", ())[0][0])
        except psycopg.Error as exc:
            log.debug("comparing a default of %s failed: %s", p.column_type, exc)
    return answers


def settle_defaults(findings: Sequence[Finding], m: Catalog, o: Catalog, rows: Rows) -> list[Finding]:
    """The findings with every default change PostgreSQL finds not distinct turned into a note."""
    pairs = default_pairs(findings, m, o)
    answers = not_distinct(pairs, rows) if pairs else {}
    types = {p.index: p.shown_type for p in pairs}
    return [_note(f, types[i]) if answers.get(i) else f for i, f in enumerate(findings)]


def _note(f: Finding, column_type: str) -> Finding:
    return replace(
        f,
        severity="info",
        detail=f"not distinct as {column_type} (PostgreSQL's IS NOT DISTINCT FROM), "
        "though the stored values are not identical",
    )


def settle_at(url: URL) -> Settle:
    """Settle on the database at `url` (a scratch database: the column types exist there). Its
    own connection, closed afterwards (a scratch database may be copied as a template next), in a
    read-only transaction that is rolled back."""

    def settle(findings: Sequence[Finding], m: Catalog, o: Catalog) -> list[Finding]:
        if not default_pairs(findings, m, o):
            return list(findings)  # nothing to ask: no connection either
        try:
            with engine_for(url) as engine, engine.connect() as conn:
                return _settle_with(conn.connection.driver_connection, findings, m, o)
        except psycopg.Error as exc:
            log.debug("asking PostgreSQL about defaults failed: %s", exc)
            return list(findings)

    return settle


def _settle_with(driver: Any, findings: Sequence[Finding], m: Catalog, o: Catalog) -> list[Finding]:
    def rows(sql: str, params: tuple[object, ...]) -> list[Any]:
        with driver.transaction(), driver.cursor() as cur:  # a savepoint: a failed query spoils no other
            found: list[Any] = cur.execute(sql.encode(), params or None).fetchall()
            return found

    with driver.transaction(force_rollback=True):
        driver.execute(
            "SELECT set_config('transaction_read_only', 'on', true), set_config('TimeZone', 'UTC', true), "
            "set_config('statement_timeout', '30s', true)"
        )
        return settle_defaults(findings, m, o, rows)
