"""tenants.as_schema: a tenant's catalog as if it were in the migrations' default schema."""

from __future__ import annotations

from driftbot.compare.catalog import Catalog, Column, EnumType, Index, SequenceDef, Table
from driftbot.runs.tenants import as_schema


def column(name: str, default_sequence: tuple[str, str] | None = None) -> Column:
    return Column(name, "integer", False, None, None, None, None, None, default_sequence)


def index(table: str, schema: str, only: bool = False) -> Index:
    on = "ON ONLY" if only else "ON"
    definition = f"CREATE INDEX ix_{table} {on} {schema}.{table} USING btree (id)"
    return Index(
        f"ix_{table}", definition, definition.replace(f" INDEX ix_{table} ON ", " INDEX ON ", 1), False, "btree", None
    )


def table(schema: str, name: str, only: bool = False) -> Table:
    return Table(
        schema, name, None, {"id": column("id", (schema, f"{name}_seq"))}, {}, {f"ix_{name}": index(name, schema, only)}
    )


def test_the_tenant_moves_to_the_default_schema_shared_schemas_stay_the_rest_goes() -> None:
    catalog = Catalog(
        tables={
            ("tenant_a", "orders"): table("tenant_a", "orders"),
            ("tenant_a", "events"): table("tenant_a", "events", only=True),  # partitioned: ON ONLY
            ("tenant_b", "orders"): table("tenant_b", "orders"),
            ("shared", "plans"): table("shared", "plans"),
            ("public", "orders"): table("public", "orders"),
        },
        enums={
            ("tenant_a", "status"): EnumType("tenant_a", "status", ("a",)),
            ("tenant_b", "status"): EnumType("tenant_b", "status", ("b",)),
        },
        sequences={("tenant_a", "numbers"): SequenceDef("tenant_a", "numbers", "AS bigint")},
        schemas=("public", "shared", "tenant_a", "tenant_b"),
    )

    moved = as_schema(catalog, "tenant_a", "public", frozenset({"public", "shared"}))

    assert set(moved.tables) == {("public", "orders"), ("public", "events"), ("shared", "plans")}
    orders = moved.tables[("public", "orders")]
    assert orders.schema == "public" and orders.columns["id"].default_sequence == ("public", "orders_seq")
    assert orders.indexes["ix_orders"].definition == "CREATE INDEX ix_orders ON public.orders USING btree (id)"
    assert orders.indexes["ix_orders"].shape == "CREATE INDEX ON public.orders USING btree (id)"
    events = moved.tables[("public", "events")].indexes["ix_events"]
    assert events.definition == "CREATE INDEX ix_events ON ONLY public.events USING btree (id)"
    assert moved.tables[("shared", "plans")] == catalog.tables[("shared", "plans")]
    assert moved.enums == {("public", "status"): EnumType("public", "status", ("a",))}
    assert moved.sequences == {("public", "numbers"): SequenceDef("public", "numbers", "AS bigint")}
    assert moved.schemas == ("public", "shared")
