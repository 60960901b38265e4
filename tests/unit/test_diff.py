"""The pure diff on hand-made snapshots: matching, equivalence, one finding per difference."""

from __future__ import annotations

import pytest

from driftbot.compare.catalog import Catalog, Column, Constraint, EnumType, Index, Table
from driftbot.compare.diff import diff_catalogs, match_named
from driftbot.compare.equivalence import NO_SERVER


def col(
    name: str, type_: str = "integer", *, nullable: bool = True, default: str | None = None, identity: str | None = None
) -> Column:
    return Column(name, type_, nullable, default, identity, None, None, None)


def catalog(*tables: Table, enums: tuple[EnumType, ...] = ()) -> Catalog:
    return Catalog(
        tables={(t.schema, t.name): t for t in tables}, enums={(e.schema, e.name): e for e in enums}, sequences={}
    )


def table(
    *columns: Column, constraints: tuple[Constraint, ...] = (), indexes: tuple[Index, ...] = (), name: str = "t"
) -> Table:
    return Table(
        "public",
        name,
        None,
        {c.name: c for c in columns},
        {c.name: c for c in constraints},
        {i.name: i for i in indexes},
    )


def kinds(m: Catalog, o: Catalog) -> list[tuple[str, str, str]]:
    return [(f.kind, f.object, f.severity) for f in diff_catalogs(m, o)]


def test_identical_catalogs_have_no_findings() -> None:
    t = table(col("id", nullable=False), col("note", "text"))
    assert diff_catalogs(catalog(t), catalog(t)) == []


def test_missing_table_is_one_finding_not_one_per_column() -> None:
    assert kinds(catalog(), catalog(table(col("a"), col("b")))) == [("table_missing", "public.t", "high")]
    assert kinds(catalog(table(col("a"))), catalog()) == [("table_extra", "public.t", "high")]


@pytest.mark.parametrize(
    ("m", "o", "kind"),
    [
        (col("a", "integer"), col("a", "bigint"), "column_type_changed"),
        (col("a"), col("a", nullable=False), "column_nullable_changed"),
        (col("a"), col("a", default="0"), "column_default_added"),
        (col("a", default="0"), col("a"), "column_default_removed"),
        (col("a", default="0"), col("a", default="1"), "column_default_changed"),
    ],
)
def test_each_column_aspect_is_its_own_finding(m: Column, o: Column, kind: str) -> None:
    findings = diff_catalogs(catalog(table(m)), catalog(table(o)))
    assert [(f.kind, f.object, f.severity) for f in findings] == [(kind, "public.t.a", "high")]
    assert findings[0].migrations != findings[0].models


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("now()", "CURRENT_TIMESTAMP"),
        ("transaction_timestamp()", "now()"),
        ("pg_catalog.now()", "now()"),
        ("(amount > (0)::numeric)", "amount > 0::numeric"),
        ("NULL::integer", None),
    ],
)
def test_equivalent_defaults_are_info_only(a: str, b: str | None) -> None:
    findings = diff_catalogs(catalog(table(col("a", default=a))), catalog(table(col("a", default=b))))
    assert [f.severity for f in findings] == ["info"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("(a + b) * c", "a + (b * c)"),
        ("'1'", "'2'"),
        ("now()", "clock_timestamp()"),
        # issue 11: the regex lowercased literals and dropped parentheses inside them
        ("'Active'::text", "'active'::text"),
        ("'x (y)'::text", "'x y'::text"),
        ('"A"', "a"),
        ("'0'::numeric", "0"),  # without a server, constants compare as spelled: never a false "same"
    ],
)
def test_different_expressions_stay_different(a: str, b: str) -> None:
    assert NO_SERVER.expression(a, b) == "different"
    findings = diff_catalogs(catalog(table(col("a", default=a))), catalog(table(col("a", default=b))))
    assert [f.severity for f in findings] == ["high"]


def test_check_literals_are_compared_exactly() -> None:
    def check(definition: str) -> Table:
        return table(col("tier", "text"), constraints=(Constraint("ck", "c", definition),))

    m = check("CHECK (tier = ANY (ARRAY['A'::text, 'B'::text]))")
    o = check("CHECK (tier = ANY (ARRAY['a'::text, 'b'::text]))")
    assert kinds(catalog(m), catalog(o)) == [("check_changed", "public.t.ck", "high")]


def test_casts_postgresql_inserts_around_strings_are_one_spelling() -> None:
    def check(definition: str) -> Table:
        return table(col("status", "character varying(10)"), constraints=(Constraint("ck", "c", definition),))

    m = check("CHECK (status::text = ANY (ARRAY['a'::character varying, 'b'::character varying]::text[]))")
    o = check("CHECK (status::text = ANY (ARRAY['a'::text, 'b'::text]))")
    assert kinds(catalog(m), catalog(o)) == [("check_changed", "public.t.ck", "info")]


def test_is_false_is_not_false_only_in_a_where_clause() -> None:
    def ix(name: str, predicate: str) -> Index:
        d = f"CREATE INDEX {name} ON public.t USING btree (a) WHERE {predicate}"
        return Index(name, d, d.replace(f" {name} ON", " ON"), False, "btree", predicate)

    m, o = (
        table(col("a"), indexes=(ix("ix", "(deleted IS FALSE)"),)),
        table(col("a"), indexes=(ix("ix", "(deleted = false)"),)),
    )
    assert kinds(catalog(m), catalog(o)) == [("index_changed", "public.t.ix", "info")]
    renamed = table(col("a"), indexes=(ix("ix2", "(NOT deleted)"),))
    assert kinds(catalog(m), catalog(renamed)) == [("index_renamed", "public.t.ix2", "low")]

    def ck(definition: str) -> Table:
        return table(col("a"), constraints=(Constraint("ck", "c", definition),))

    assert kinds(catalog(ck("CHECK (deleted IS FALSE)")), catalog(ck("CHECK (deleted = false)"))) == [
        ("check_changed", "public.t.ck", "high")
    ]  # NULL passes the CHECK on one side only
    assert kinds(catalog(ck("CHECK (deleted IS NOT FALSE)")), catalog(ck("CHECK (deleted)"))) == [
        ("check_changed", "public.t.ck", "info")
    ]


def test_a_default_calling_another_sequence_is_a_naming_finding() -> None:
    m = table(col("id", default="nextval('dataset_id_seq'::regclass)"))
    o = table(col("id", default="nextval('asset_id_seq'::regclass)"))
    assert kinds(catalog(m), catalog(o)) == [("column_default_changed", "public.t.id", "low")]
    other = table(col("id", default="nextval('asset_id_seq'::regclass) + 1"))
    assert kinds(catalog(m), catalog(other)) == [("column_default_changed", "public.t.id", "high")]


def test_constraint_with_other_name_is_renamed_not_dropped_and_added() -> None:
    m = table(col("a"), constraints=(Constraint("ck_old", "c", "CHECK (a > 0)"),))
    o = table(col("a"), constraints=(Constraint("ck_new", "c", "CHECK (a > 0)"),))
    assert kinds(catalog(m), catalog(o)) == [("check_renamed", "public.t.ck_new", "low")]


def test_same_name_other_definition_is_changed() -> None:
    m = table(col("a"), constraints=(Constraint("fk", "f", "FOREIGN KEY (a) REFERENCES u(id)"),))
    o = table(col("a"), constraints=(Constraint("fk", "f", "FOREIGN KEY (a) REFERENCES u(id) ON DELETE CASCADE"),))
    assert kinds(catalog(m), catalog(o)) == [("foreign_key_changed", "public.t.fk", "high")]


def test_index_changed_names_the_aspect() -> None:
    def ix(unique: bool, method: str) -> Index:
        u = "UNIQUE " if unique else ""
        shape = f"CREATE {u}INDEX ON public.t USING {method} (a)"
        return Index("ix", shape.replace("INDEX ON", "INDEX ix ON"), shape, unique, method, None)

    [finding] = diff_catalogs(
        catalog(table(col("a"), indexes=(ix(False, "btree"),))), catalog(table(col("a"), indexes=(ix(True, "btree"),)))
    )
    assert (finding.kind, finding.detail) == ("index_changed", "differs in: unique")


def test_enum_values_added_removed_reordered() -> None:
    def enum(*labels: str) -> Catalog:
        return catalog(enums=(EnumType("public", "e", labels),))

    assert [f.kind for f in diff_catalogs(enum("a", "b"), enum("a", "b", "c"))] == ["enum_values_added"]
    assert [f.kind for f in diff_catalogs(enum("a", "b", "c"), enum("a", "b"))] == ["enum_values_removed"]
    assert [f.kind for f in diff_catalogs(enum("a", "b"), enum("b", "a"))] == ["enum_values_reordered"]


def test_serial_versus_identity_is_one_identity_finding() -> None:
    m = table(col("id", nullable=False, default="nextval('t_id_seq'::regclass)"))
    o = table(col("id", nullable=False, identity="GENERATED BY DEFAULT AS IDENTITY"))
    assert kinds(catalog(m), catalog(o)) == [("column_identity_changed", "public.t.id", "high")]


def test_match_named_prefers_exact_then_definition_then_name() -> None:
    m = {"a": "X", "b": "Y", "c": "Z"}
    o = {"a": "X", "b2": "Y", "c": "W", "d": "V"}
    matches = match_named(m, o, lambda v: v)
    assert matches.renamed == [("Y", "Y")]
    assert matches.changed == [("Z", "W")]
    assert matches.only_o == ["V"] and matches.only_m == []
