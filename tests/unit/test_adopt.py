"""suggest/adopt.py on plain catalogs: what one round of `--fix-to live` writes, and in which order."""

from __future__ import annotations

import ast

from driftbot.compare.catalog import Catalog, Column, Table
from driftbot.compare.findings import Finding
from driftbot.compare.objects import SchemaObject
from driftbot.suggest.adopt import CopyFacts, adoptable, plan, runnable


def catalog(*objects: SchemaObject, tables: tuple[Table, ...] = ()) -> Catalog:
    by_type: dict[str, dict[str, SchemaObject]] = {}
    for o in objects:
        by_type.setdefault(o.type, {})[o.path] = o
    return Catalog({(t.schema, t.name): t for t in tables}, {}, {}, objects=by_type)


def view(definition: str, path: str = "public.v") -> SchemaObject:
    return SchemaObject(
        "view", path, "public", path.split(".")[1], None, definition, create=definition, drop=f"DROP VIEW {path}"
    )


def statements(lines: tuple[str, ...]) -> list[str]:
    """The SQL of each op.execute line, as Python reads the literal."""
    return [ast.literal_eval(line.removeprefix("op.execute(").removesuffix(")")) for line in lines]


def table(*columns: Column) -> Table:
    return Table("public", "t", None, {c.name: c for c in columns})


def col(type_: str, default: str | None = None) -> Column:
    return Column("x", type_, True, default, None, None, None, None)


def test_a_view_over_a_column_whose_type_changes_is_dropped_before_and_made_after() -> None:
    have = catalog(view("CREATE VIEW public.v AS SELECT x FROM t"), tables=(table(col("integer")),))
    want = catalog(view("CREATE VIEW public.v AS SELECT x FROM t"), tables=(table(col("bigint")),))
    change = Finding(
        "column_type_changed",
        "public.t.x",
        "high",
        "integer",
        "bigint",
        object_type="column",
        schema="public",
        table="t",
        name="x",
    )

    lines = plan([change], have, want, CopyFacts({"public.t": (("view", "public.v"),)}))

    assert statements(lines) == [
        "DROP VIEW public.v",
        "ALTER TABLE public.t ALTER COLUMN x TYPE bigint USING x::bigint",
        "CREATE VIEW public.v AS SELECT x FROM t",
    ]
    assert statements(plan([change], have, want)) == statements(lines)[1:2]  # no view over it: none rebuilt


def test_a_partition_the_other_side_lacks_is_made_as_a_table_and_dropped_as_one() -> None:
    parent, child = '"p""a"."e v"', 'public."x""y"'
    part = SchemaObject(
        "partition",
        'public.x"y',
        "public",
        'x"y',
        'x"y',
        f"ALTER TABLE {parent} ATTACH PARTITION {child} FOR VALUES IN ('{child} ATTACH PARTITION ')",
        create="",
        drop=f"ALTER TABLE {parent} DETACH PARTITION {child}",
    )
    part = SchemaObject(**{**part.__dict__, "create": part.definition})
    found = Finding("partition_missing", part.path, "high", None, part.definition, object_type="partition")

    made = statements(plan([found], catalog(), catalog(part)))
    dropped = statements(plan([found], catalog(part), catalog()))
    attached = statements(plan([found], catalog(tables=(Table("public", 'x"y', None),)), catalog(part)))

    assert made == [f"CREATE TABLE {child} PARTITION OF {parent} FOR VALUES IN ('{child} ATTACH PARTITION ')"]
    assert dropped == [f"DROP TABLE {child}"]
    assert attached == [part.definition]  # a plain table of that name: attached, as it is


def test_an_index_of_a_partitioned_table_reaches_its_partitions() -> None:
    found = Finding(
        "index_missing",
        "public.events.by_id",
        "high",
        None,
        "CREATE INDEX by_id ON ONLY public.events USING btree (id)",
        object_type="index",
        schema="public",
        table="events",
        name="by_id",
    )

    assert statements(plan([found], catalog(), catalog())) == ["CREATE INDEX by_id ON public.events USING btree (id)"]


def test_an_enum_swap_waits_while_a_default_changes() -> None:
    default = Finding(
        "column_default_changed",
        "public.t.x",
        "high",
        "'meh'::mood",
        "'happy'::mood",
        object_type="column",
        schema="public",
        table="t",
        name="x",
    )
    swap = Finding(
        "enum_values_removed",
        "public.mood",
        "high",
        "'happy', 'meh'",
        "'happy'",
        object_type="enum",
        schema="public",
        name="mood",
    )

    first = statements(plan([default, swap], catalog(), catalog()))

    assert first == ["ALTER TABLE public.t ALTER COLUMN x SET DEFAULT 'happy'::mood"]


def test_an_extension_is_updated_in_place_only_along_a_path_it_ships() -> None:
    def ext(version: str) -> SchemaObject:
        return SchemaObject(
            "extension",
            "citext",
            None,
            "citext",
            None,
            f"CREATE EXTENSION citext WITH SCHEMA public VERSION '{version}'",
            create=f"CREATE EXTENSION citext WITH SCHEMA public VERSION '{version}'",
            drop="DROP EXTENSION citext",
            replace=f"ALTER EXTENSION citext UPDATE TO '{version}'",
        )

    found = Finding("extension_changed", "citext", "high", "", "", object_type="extension")

    back = statements(plan([found], catalog(ext("1.6")), catalog(ext("1.5"))))
    on = statements(
        plan([found], catalog(ext("1.5")), catalog(ext("1.6")), CopyFacts({}, frozenset({("citext", "1.5", "1.6")})))
    )

    assert back == ["DROP EXTENSION citext", "CREATE EXTENSION citext WITH SCHEMA public VERSION '1.5'"]
    assert on == ["ALTER EXTENSION citext UPDATE TO '1.6'"]


def test_what_no_op_adopts() -> None:
    def finding(kind: str, object_type: str) -> Finding:
        return Finding(kind, "public.t", "high", None, None, object_type=object_type)

    assert not adoptable(finding("table_missing", "table")) and not adoptable(finding("column_extra", "column"))
    assert not adoptable(finding("partition_key_changed", "partition_key"))
    assert adoptable(finding("view_changed", "view")) and adoptable(finding("index_missing", "index"))


def test_a_round_runs_as_one_function_of_the_revision_s_lines() -> None:
    lines = ("op.execute('SELECT 1')",)
    ran: list[str] = []

    class Op:
        def execute(self, statement: str) -> None:
            ran.append(statement)

    exec(compile(runnable(lines), "<round>", "exec"), {"op": Op()})
    assert ran == ["SELECT 1"]
