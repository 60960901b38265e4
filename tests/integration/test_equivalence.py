"""Equivalence on a real server, as property tests: spellings PostgreSQL treats as equal never
fail the check; any change of a literal, an operator, a column or a constant does.

Each example builds the same table in two scratch databases (M and O) with one expression each,
spelled two ways, reads both catalogs (constants evaluated there) and diffs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from driftbot.compare.catalog import Catalog, read_catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.compare.settle import settle_at
from driftbot.postgres.base import Server, libpq_conninfo, scratch_database
from driftbot.report.model import Report
from driftbot.report.render import render as render_report

COLUMNS = "a integer, b integer, s text, v varchar(10), flag boolean, other boolean, tags text[], n numeric"
EXAMPLES = 60
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # each example is two databases' DDL: shrinking takes minutes
SEEN = {"same": 0, "changed": 0}


@dataclass(frozen=True)
class Pair:
    m: URL
    o: URL


@pytest.fixture(scope="module")
def dbs(pg_server: Server) -> Iterator[Pair]:
    with scratch_database(pg_server, "eqm") as m, scratch_database(pg_server, "eqo") as o:
        yield Pair(m, o)


def build(url: URL, ddl: list[str]) -> Catalog:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")  # nothing of the previous example stays
        conn.execute("CREATE SCHEMA public")
        for statement in ddl:
            conn.execute(statement.encode())
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return read_catalog(conn)
    finally:
        engine.dispose()


def findings_between(dbs: Pair, ddl_m: list[str], ddl_o: list[str]) -> list[Finding]:
    """The diff as `check` makes it: constant defaults settled on M (settle.py)."""
    m, o = build(dbs.m, ddl_m), build(dbs.o, ddl_o)
    return settle_at(dbs.m)(diff_catalogs(m, o), m, o)


def drift_between(dbs: Pair, ddl_m: list[str], ddl_o: list[str]) -> list[Finding]:
    return [f for f in findings_between(dbs, ddl_m, ddl_o) if f.is_drift]


# --- a small expression language: trees, each rendered in any of its equal spellings ---------------

Tree = tuple[object, ...]
INTS = ("a", "b")
OPS = ("<", "<=", ">", ">=", "=", "<>")


def trees(depth: int = 2) -> st.SearchStrategy[Tree]:
    leaf = st.one_of(
        st.tuples(st.just("cmp"), st.sampled_from(OPS), st.sampled_from(INTS), st.integers(-5, 5)),
        st.tuples(st.just("text"), st.sampled_from(("s", "v")), st.text("aAbB (x)'", min_size=0, max_size=4)),
        st.tuples(
            st.just("in"),
            st.sampled_from(("s", "v")),
            st.lists(st.text("aAb", min_size=1, max_size=2), min_size=1, max_size=3, unique=True),
        ),
        st.tuples(st.just("bool"), st.sampled_from(("flag", "other")), st.booleans()),
        st.tuples(st.just("empty"), st.booleans()),
    )
    if depth == 0:
        return leaf
    sub = trees(depth - 1)
    return st.one_of(leaf, st.tuples(st.sampled_from(("and", "or")), sub, sub))


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def render(tree: Tree, draw: st.DrawFn, context: str) -> str:
    """One spelling of the tree, chosen at random among those PostgreSQL treats as equal."""

    def pick(*options: str) -> str:
        return draw(st.sampled_from(options))

    kind = tree[0]
    if kind == "cmp":
        _, op, col, value = tree
        number = (
            pick(str(value), f"'{value}'::integer", f"({value})")
            if isinstance(value, int) and value >= 0
            else pick(f"({value})", f"'{value}'::integer")
        )
        return pick(f"{col} {op} {number}", f"({col} {op} {number})", f"{col}{op}{number}")
    if kind == "text":
        _, col, value = tree
        value_sql = lit(str(value))
        return pick(
            f"{col} = {value_sql}",
            f"{col} = {value_sql}::text",
            f"({col}) = ({value_sql})",
            f"{col} = {value_sql}::varchar",
        )
    if kind == "in":
        _, col, values = tree
        quoted = [lit(v) for v in values]  # type: ignore[attr-defined]
        return pick(
            f"{col} IN ({', '.join(quoted)})",
            f"{col} = ANY (ARRAY[{', '.join(quoted)}])",
            f"{col} in ({', '.join(q + '::text' for q in quoted)})",
        )
    if kind == "bool":
        _, col, value = tree
        spellings = (
            [f"{col}", f"{col} = true", f"({col} = TRUE)", f"NOT NOT {col}", f"{col} <> false"]
            if value
            else [f"NOT {col}", f"{col} = false", f"{col} <> true", f"not ({col})"]
        )
        if context == "where":
            spellings.append(f"{col} IS TRUE" if value else f"{col} IS FALSE")
        if context == "check":
            spellings.append(f"{col} IS NOT FALSE" if value else f"{col} IS NOT TRUE")
        return pick(*spellings)
    if kind == "empty":
        _, negated = tree
        empty = pick("'{}'::text[]", "ARRAY[]::text[]", "'{}'")
        return f"tags {'<>' if negated else '='} {empty}"
    left, right = (render(t, draw, context) for t in tree[1:])  # type: ignore[arg-type]
    op = pick(kind.upper(), kind)
    return pick(f"({left}) {op} ({right})", f"(({left}) {op} ({right}))")


def mutate(tree: Tree, draw: st.DrawFn) -> Tree:
    """The tree with exactly one literal, operator, column or constant changed."""
    kind = tree[0]
    if kind in ("and", "or"):
        which = draw(st.sampled_from(("op", "left", "right")))
        if which == "op":
            return ("or" if kind == "and" else "and", *tree[1:])
        left, right = tree[1], tree[2]
        return (kind, mutate(left, draw), right) if which == "left" else (kind, left, mutate(right, draw))  # type: ignore[arg-type]
    if kind == "cmp":
        _, op, col, value = tree
        which = draw(st.sampled_from(("op", "col", "value")))
        if which == "op":
            return (kind, draw(st.sampled_from([o for o in OPS if o != op])), col, value)
        if which == "col":
            return (kind, op, "b" if col == "a" else "a", value)
        return (kind, op, col, value + draw(st.sampled_from((-1, 1))))  # type: ignore[operator]
    if kind == "text":
        _, col, value = tree
        changed = draw(
            st.sampled_from(
                (
                    value + "a",
                    str(value).swapcase() if str(value).swapcase() != value else value + "(",
                    str(value)[:-1] if value else "x",
                )
            )
        )
        return (kind, col, changed)
    if kind == "in":
        _, col, values = tree
        return (kind, col, [*values, "zz"])  # type: ignore[misc]
    if kind == "bool":
        _, col, value = tree
        return (kind, "other" if col == "flag" else "flag", value) if draw(st.booleans()) else (kind, col, not value)
    return (kind, not tree[1])


@st.composite
def same_and_changed(draw: st.DrawFn, context: str) -> tuple[str, str, str]:
    tree = draw(trees())
    return render(tree, draw, context), render(tree, draw, context), render(mutate(tree, draw), draw, context)


def place(context: str, expression: str) -> list[str]:
    if context == "check":
        return [f"CREATE TABLE t ({COLUMNS}, CONSTRAINT ck CHECK ({expression}))"]
    return [f"CREATE TABLE t ({COLUMNS})", f"CREATE INDEX ix ON t (a) WHERE {expression}"]


@pytest.mark.parametrize("context", ["check", "where"])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=st.data())
def test_equal_spellings_pass_and_every_change_fails(dbs: Pair, context: str, case: st.DataObject) -> None:
    one, other, changed = case.draw(same_and_changed(context))
    assert drift_between(dbs, place(context, one), place(context, other)) == [], (one, other)
    found = drift_between(dbs, place(context, one), place(context, changed))
    assert found and all(f.severity == "high" for f in found), (one, changed, found)
    SEEN["same"] += 1
    SEEN["changed"] += 1


# --- constant defaults: evaluated on the server in the column's type ---------------------------------

DEFAULTS: dict[str, tuple[tuple[str, ...], ...]] = {
    # column type: groups of spellings of one value (each group a different value)
    "text[]": (
        ("'{}'::text[]", "ARRAY[]::text[]", "'{}'", "(ARRAY[]::text[])"),
        ("'{a}'::text[]", "ARRAY['a']", "ARRAY['a'::varchar]::text[]", "'{\"a\"}'"),
        ("'{A}'",),
    ),
    "integer": (("0", "'0'", "'0'::integer", "(0)", "0::smallint", "-0"), ("1", "'1'::bigint"), ("-1", "'-1'")),
    # numeric: IS NOT DISTINCT FROM, not the text output, decides (1.5 and 1.50 print apart)
    "numeric": (("1.5", "'1.5'", "1.5::numeric", "'1.50'::numeric(10,1)", "1.50", "'1.500'"), ("2",), ("1.51",)),
    "interval": (("'1 day'", "'24 hours'", "'1440 minutes'"), ("'2 days'",), ("'1 day 1 second'",)),
    "boolean": (("false", "'f'", "'false'::boolean", "'no'", "'0'::boolean"), ("true", "'t'", "'yes'")),
    "text": (
        ("'Active'", "'Active'::text", "'Active'::varchar", "('Active')"),
        ("'active'",),
        ("'x (y)'",),
        ("'x y'",),
        ("NULL", "NULL::text"),
    ),
    "timestamptz": (
        ("'2024-01-01 00:00:00+00'", "'2024-01-01 02:00:00+02'::timestamptz"),
        ("'2024-01-01 00:00:01+00'",),
    ),
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=st.data())
def test_constant_defaults_compare_by_value(dbs: Pair, case: st.DataObject) -> None:
    column_type = case.draw(st.sampled_from(sorted(DEFAULTS)))
    groups = DEFAULTS[column_type]
    i, j = case.draw(st.integers(0, len(groups) - 1)), case.draw(st.integers(0, len(groups) - 1))
    a, b = case.draw(st.sampled_from(groups[i])), case.draw(st.sampled_from(groups[j]))
    found = drift_between(
        dbs, [f"CREATE TABLE t (c {column_type} DEFAULT {a})"], [f"CREATE TABLE t (c {column_type} DEFAULT {b})"]
    )
    if i == j:
        assert found == [], (a, b, found)
        SEEN["same"] += 1
    else:
        assert [f.severity for f in found] == ["high"], (a, b, found)
        SEEN["changed"] += 1


def test_no_default_and_a_null_default_are_the_same(dbs: Pair) -> None:
    assert drift_between(dbs, ["CREATE TABLE t (c text DEFAULT NULL)"], ["CREATE TABLE t (c text)"]) == []


@pytest.mark.parametrize(
    ("column_type", "m", "o", "expected"),
    [
        ("numeric", "1.0", "1.00", "info"),
        ("numeric", "1.0", "2.0", "high"),
        ("numeric(10,2)", "1.0", "'1'", "info"),
        ("numeric", "1.0", "'1.0'::numeric(10,2)", "info"),
        ("citext", "'A'", "'a'", "info"),
        ("citext", "'A'", "'b'", "high"),
        ("citext", "'A'::text", "'a'::citext", "info"),
        ("citext[]", "'{A}'", "'{a}'", "high"),  # no `=` of citext[]'s own: the text decides, as before
        ("text", "'A'", "'a'", "high"),  # text's = is case-sensitive
        ("dnum", "1.0", "1.00", "high"),  # a domain's CHECK may call the owner's code: never evaluated
        ("numeric", "'1.0'::dnum", "1.00", "high"),  # nor a cast to a domain inside a constant
        ("interval", "'1 day'", "'24 hours'", "info"),
        ("interval", "'1 day'", "'25 hours'", "high"),
    ],
)
def test_constant_defaults_are_compared_by_postgresql(
    dbs: Pair, column_type: str, m: str, o: str, expected: str
) -> None:
    """Both values cast to the column's type, compared with IS NOT DISTINCT FROM on the server."""
    setup = [
        "CREATE EXTENSION citext",
        "CREATE FUNCTION positive(numeric) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN RETURN $1 > 0; END'",
        "CREATE DOMAIN dnum AS numeric CHECK (positive(VALUE))",
    ]
    found = findings_between(
        dbs,
        [*setup, f"CREATE TABLE t (c {column_type} DEFAULT {m})"],
        [*setup, f"CREATE TABLE t (c {column_type} DEFAULT {o})"],
    )
    assert [(f.kind, f.severity) for f in found] == [("column_default_changed", expected)], found
    if expected == "info":  # a note that says why, never a silent pass
        assert "IS NOT DISTINCT FROM" in found[0].detail or "mean the same" in found[0].detail, found[0]


HIJACK = """DO $$ BEGIN
EXECUTE format('CREATE SCHEMA %1$I', current_user);
EXECUTE format('CREATE FUNCTION %1$I.same(citext, citext) RETURNS boolean LANGUAGE sql AS ''SELECT true''', current_user);
EXECUTE format('CREATE OPERATOR %1$I.= (LEFTARG = citext, RIGHTARG = citext, FUNCTION = %1$I.same)', current_user);
END $$"""


def test_an_equality_operator_of_the_owners_is_never_called(dbs: Pair) -> None:
    """An `=` for citext earlier on the search path ("$user") than citext's own is what IS NOT DISTINCT
    FROM would call: its function is the owner's, so nothing is evaluated (it would say 'A' = 'b')."""
    try:
        found = findings_between(
            dbs,
            ["CREATE EXTENSION citext", HIJACK, "CREATE TABLE t (c citext DEFAULT 'A')"],
            ["CREATE EXTENSION citext", HIJACK, "CREATE TABLE t (c citext DEFAULT 'b')"],
        )
        assert [f.severity for f in found] == ["high"]
    finally:
        for url in (dbs.m, dbs.o):
            with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                conn.execute("DO $$ BEGIN EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', current_user); END $$")


def test_a_cast_of_the_owners_is_never_called(dbs: Pair) -> None:
    """A cast integer -> citext by the owner's function: citext is then never evaluated (1 and '1' would be equal)."""
    cast = [
        "CREATE EXTENSION citext",
        "CREATE FUNCTION to_citext(integer) RETURNS citext LANGUAGE sql AS 'SELECT $1::text::citext'",
        "CREATE CAST (integer AS citext) WITH FUNCTION to_citext(integer)",
    ]
    found = findings_between(
        dbs, [*cast, "CREATE TABLE t (c citext DEFAULT 1::citext)"], [*cast, "CREATE TABLE t (c citext DEFAULT '1')"]
    )
    assert [(f.migrations, f.models, f.severity) for f in found] == [("(1)::citext", "'1'::citext", "high")]


def test_constant_defaults_without_a_server_keep_the_texts_verdict(dbs: Pair) -> None:
    """The diff alone (no server asked) still calls 1.0 vs 1.00 a change: the settle step decides."""
    m, o = (
        build(dbs.m, ["CREATE TABLE t (c numeric DEFAULT 1.0)"]),
        build(dbs.o, ["CREATE TABLE t (c numeric DEFAULT 1.00)"]),
    )
    assert [f.severity for f in diff_catalogs(m, o)] == ["high"]
    assert [f.severity for f in settle_at(dbs.m)(diff_catalogs(m, o), m, o)] == ["info"]


def test_spellings_of_now_as_postgresql_renders_them(dbs: Pair) -> None:
    """What pg_get_expr stores for each spelling (the texts the rules below read)."""
    spellings = {
        "CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP",
        "now()": "now()",
        "pg_catalog.now()": "now()",
        "transaction_timestamp()": "transaction_timestamp()",
        "CURRENT_TIMESTAMP(3)": "CURRENT_TIMESTAMP(3)",
        "LOCALTIMESTAMP": "LOCALTIMESTAMP",
        "statement_timestamp()": "statement_timestamp()",
    }
    columns = ", ".join(f"c{i} timestamptz DEFAULT {s}" for i, s in enumerate(spellings))
    catalog = build(dbs.m, [f"CREATE TABLE t ({columns})"])
    stored = {s: catalog.tables["public", "t"].columns[f"c{i}"].default for i, s in enumerate(spellings)}
    assert stored == spellings


@pytest.mark.parametrize(
    ("column_type", "m", "o", "severity"),
    [
        ("timestamptz", "now()", "CURRENT_TIMESTAMP", None),
        ("timestamptz", "now()", "transaction_timestamp()", None),
        ("timestamptz", "CURRENT_TIMESTAMP", "pg_catalog.now()", None),
        ("timestamp", "now()", "CURRENT_TIMESTAMP", None),  # both now(), cast to timestamp on insert
        ("timestamptz", "now()", "clock_timestamp()", "high"),
        ("timestamptz", "now()", "statement_timestamp()", "high"),
        ("timestamptz", "now()", "CURRENT_TIMESTAMP(3)", "high"),  # rounded to milliseconds
        ("timestamp", "now()", "LOCALTIMESTAMP", "high"),  # local time, another value in another TimeZone
    ],
)
def test_volatile_defaults_compare_by_what_they_call(
    dbs: Pair, column_type: str, m: str, o: str, severity: str | None
) -> None:
    found = findings_between(
        dbs, [f"CREATE TABLE t (c {column_type} DEFAULT {m})"], [f"CREATE TABLE t (c {column_type} DEFAULT {o})"]
    )
    assert [f.severity for f in found if f.is_drift] == ([severity] if severity else [])
    if severity is None:  # spelled apart in the catalog: a note that says they mean the same
        assert [f.detail for f in found] == ["PostgreSQL stores these differently; they mean the same"]


def test_check_settles_defaults_and_verifies_the_suggestion(check_fixture: Callable[..., Report]) -> None:
    """Through `check`: 1.0 vs 1.00 is a note, 1.0 vs 2.0 drift whose fix verifies (the verification's
    re-diff settles price as the check did, else price would remain as drift)."""
    report = check_fixture("default_not_distinct")
    assert sorted((f.object, f.severity) for f in report.findings) == [
        ("public.items.price", "info"),
        ("public.items.qty", "high"),
    ]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
    assert "price" not in report.suggestion.content


def test_a_default_calling_another_sequence_is_low(dbs: Pair) -> None:
    def serial(seq: str) -> list[str]:
        return [
            f"DROP SEQUENCE IF EXISTS {seq}",
            f"CREATE SEQUENCE {seq}",
            f"CREATE TABLE t (id integer NOT NULL DEFAULT nextval('{seq}'::regclass))",
        ]

    found = [
        f
        for f in drift_between(dbs, serial("dataset_id_seq"), serial("asset_id_seq"))
        if f.kind == "column_default_changed"
    ]
    assert [(f.severity, f.detail) for f in found] == [
        (
            "low",
            "only the name of the sequence it calls differs: public.dataset_id_seq by the migrations, "
            "public.asset_id_seq by the models",
        )
    ]


def test_generated_columns_and_index_expressions(dbs: Pair) -> None:
    def gen(expression: str) -> list[str]:
        return [
            f"CREATE TABLE t (a integer, s text, g text GENERATED ALWAYS AS ({expression}) STORED)",
            "CREATE INDEX ix ON t (lower(s)) WHERE s <> 'x'::text",
        ]

    assert drift_between(dbs, gen("(s || 'x')"), gen("s || 'x'::text")) == []
    assert [f.kind for f in drift_between(dbs, gen("s || 'x'"), gen("s || 'X'"))] == ["column_generated_changed"]


def test_property_examples_were_exercised() -> None:
    """Runs last in this file: the numbers the report quotes."""
    print(f"\nequivalent spellings checked: {SEEN['same']}, changes checked: {SEEN['changed']}")


def test_the_issue_project_drift_and_notes_are_told_apart(check_fixture: Callable[..., Report]) -> None:
    """Issue 11's project: 3 changes of a literal are drift, 3 spellings are notes, and both reports count them apart."""
    report = check_fixture("exact_drift_and_notes", suggest=False)
    drift = sorted((f.kind, f.object) for f in report.findings if f.is_drift)
    assert drift == [
        ("check_changed", "public.accounts.ck_accounts_tier"),
        ("column_default_changed", "public.accounts.label"),
        ("column_default_changed", "public.accounts.status"),
    ]
    notes = sorted(f.object for f in report.findings if not f.is_drift)
    assert notes == ["public.accounts.created", "public.accounts.ix_accounts_live", "public.accounts.tags"]
    assert "DRIFT: 3 drift findings, 3 notes in 1 object(s)." in render_report(report, "text")
    assert "### driftbot: 3 drift findings, 3 notes" in render_report(report, "markdown")
