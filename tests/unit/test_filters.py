"""The project's include_name / include_object hooks on findings of plain catalogs (filters.py):
called as Alembic calls them, with the models' object or a reflected stand-in."""

from __future__ import annotations

from typing import Any

from catalogs import catalog, col, enum, findings, table
from sqlalchemy import Column, Integer, MetaData, Table, Text

from driftbot.compare.findings import Finding
from driftbot.project.hooks import apply_project_hooks
from driftbot.project.migrate import EnvOptions

MODELS = MetaData()
Table("users", MODELS, Column("id", Integer, primary_key=True), Column("email", Text), Column("nickname", Text))
Table("invoices", MODELS, Column("id", Integer, primary_key=True), Column("total", Integer), schema="billing")

ID = col("id", nullable=False)
# the migrations: users without nickname but with a legacy column, an audit_log the models lack,
# billing.invoices without total, and an enum
MIGRATIONS = catalog(
    table("users", ID, col("email", "text"), col("legacy", "text")),
    table("audit_log", ID),
    table("invoices", ID, schema="billing"),
    enum("mood", "ok"),
)
MODEL_CATALOG = catalog(
    table("users", ID, col("email", "text"), col("nickname", "text")),
    table("invoices", ID, col("total"), schema="billing"),
)
FOUND = findings(MIGRATIONS, MODEL_CATALOG)


def objects(kept: list[Finding]) -> list[str]:
    return sorted(f.object for f in kept)


def apply(**hooks: Any) -> list[Finding]:
    return apply_project_hooks(list(FOUND), EnvOptions(**hooks), [MODELS], "public")


def test_the_findings_this_module_works_on() -> None:
    assert sorted((f.kind, f.object) for f in FOUND) == [
        ("column_extra", "public.users.legacy"),
        ("column_missing", "billing.invoices.total"),
        ("column_missing", "public.users.nickname"),
        ("enum_extra", "public.mood"),
        ("table_extra", "public.audit_log"),
    ]


def test_without_hooks_every_finding_is_kept() -> None:
    found = list(FOUND)
    assert apply_project_hooks(found, EnvOptions(), [MODELS], "public") is found


def test_include_name_leaves_out_a_table_and_its_columns_and_sees_the_schema_as_alembic_does() -> None:
    calls: list[tuple[str | None, str, dict[str, Any]]] = []

    def include_name(name: str | None, type_: str, parent: dict[str, Any]) -> bool:
        calls.append((name, type_, parent))
        return name not in ("audit_log", "users")

    assert objects(apply(include_name=include_name)) == ["billing.invoices.total", "public.mood"]
    assert ("invoices", "table", {"schema_name": "billing"}) in calls
    assert ("audit_log", "table", {"schema_name": None}) in calls  # the default schema is None
    assert (
        "total",
        "column",
        {"schema_name": "billing", "table_name": "invoices", "schema_qualified_table_name": "billing.invoices"},
    ) in calls


def test_include_name_for_schemas_only_with_include_schemas() -> None:
    def no_billing(name: str | None, type_: str, parent: dict[str, Any]) -> bool:
        return not (type_ == "schema" and name == "billing")

    assert "billing.invoices.total" in objects(apply(include_name=no_billing))
    assert "billing.invoices.total" not in objects(apply(include_name=no_billing, include_schemas=True))


def test_include_object_gets_the_models_object_or_a_reflected_stand_in() -> None:
    seen: dict[str, tuple[Any, bool]] = {}

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        seen[f"{type_}:{name}"] = (obj, reflected)
        return not (type_ == "column" and reflected)  # "never drop a column", as projects write it

    kept = objects(apply(include_object=include_object))
    assert "public.users.legacy" not in kept and "public.users.nickname" in kept
    nickname, reflected = seen["column:nickname"]
    assert nickname is MODELS.tables["users"].c.nickname and reflected is False
    legacy, reflected = seen["column:legacy"]
    assert reflected is True and legacy.name == "legacy" and legacy.table.name == "users"
    audit, reflected = seen["table:audit_log"]
    assert reflected is True and isinstance(audit, Table) and audit.name == "audit_log"


def test_a_table_left_out_by_include_object_takes_its_columns_with_it() -> None:
    def no_users(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "table" and name == "users")

    assert objects(apply(include_object=no_users)) == ["billing.invoices.total", "public.audit_log", "public.mood"]


def test_objects_alembic_never_asks_about_are_kept() -> None:
    """Alembic calls the hooks for tables, columns, indexes, unique and foreign keys, not enums."""

    def nothing(*args: Any) -> bool:
        return False

    assert objects(apply(include_name=nothing, include_object=nothing)) == ["public.mood"]
