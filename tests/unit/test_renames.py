"""Probable renames (suggest.find_renames) on plain catalogs: a column or table gone and one of the
same shape come is a rename; anything else that differs makes it a drop and an add."""

from __future__ import annotations

import pytest
from catalogs import catalog, col, findings, table

from driftbot.compare.catalog import Catalog, Column
from driftbot.suggest.generate import Rename, find_renames

ID = col("id", nullable=False)


def renames(m: Catalog, o: Catalog) -> list[Rename]:
    return find_renames(findings(m, o), m, o)


def users(*columns: Column, name: str = "users", schema: str = "public") -> Catalog:
    return catalog(table(name, ID, *columns, schema=schema))


def test_a_column_gone_and_one_alike_come_is_a_rename() -> None:
    assert renames(users(col("mail", "text")), users(col("email", "text"))) == [
        Rename("public", "users", "mail", "email")
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (col("mail", "text"), col("email", "character varying(320)")),  # another type
        (col("mail", "text"), col("email", "text", nullable=False)),  # another nullability
        (col("mail", "text"), col("email", "text", default="''::text")),  # another default
    ],
)
def test_a_column_of_another_shape_is_a_drop_and_an_add(old: Column, new: Column) -> None:
    assert renames(users(old), users(new)) == []


def test_each_new_column_is_the_partner_of_one_old_column_only() -> None:
    m = users(col("a", "text"), col("b", "text"))
    o = users(col("c", "text"))
    assert renames(m, o) == [Rename("public", "users", "a", "c")]


def test_columns_pair_by_their_own_shape() -> None:
    m = users(col("n_old", "integer"), col("s_old", "text"))
    o = users(col("s_new", "text"), col("n_new", "integer"))
    assert sorted(renames(m, o), key=lambda r: r.old) == [
        Rename("public", "users", "n_old", "n_new"),
        Rename("public", "users", "s_old", "s_new"),
    ]


def test_a_column_of_another_table_is_not_a_rename() -> None:
    m = catalog(table("users", ID, col("mail", "text")), table("orders", ID))
    o = catalog(table("users", ID), table("orders", ID, col("email", "text")))
    assert renames(m, o) == []


def test_a_table_gone_and_one_with_the_same_columns_come_is_a_rename() -> None:
    m = users(col("email", "text"), name="user")
    o = users(col("email", "text"), name="users")
    assert renames(m, o) == [Rename("public", "user", "user", "users", "table")]


def test_a_serial_table_renamed_is_still_a_rename_though_its_sequence_name_differs() -> None:
    def serial(name: str) -> Catalog:
        return catalog(table(name, col("id", nullable=False, default=f"nextval('{name}_id_seq'::regclass)")))

    assert renames(serial("user"), serial("users")) == [Rename("public", "user", "user", "users", "table")]


@pytest.mark.parametrize(
    "o",
    [
        users(col("email", "character varying(320)"), name="users"),  # a column of another type
        users(col("email", "text"), col("extra"), name="users"),  # one column more
        users(col("email", "text"), name="users", schema="billing"),  # another schema
    ],
)
def test_a_table_of_another_shape_or_schema_is_a_drop_and_a_create(o: Catalog) -> None:
    assert renames(users(col("email", "text"), name="user"), o) == []
