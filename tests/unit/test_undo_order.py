"""undo.py's order comes from pg_depend (Catalog.dependencies), the kind order only breaks ties."""

from __future__ import annotations

from dataclasses import replace

from driftbot.compare.catalog import EMPTY_CATALOG, Catalog
from driftbot.compare.findings import Finding
from driftbot.compare.objects import Dependencies, SchemaObject
from driftbot.suggest.undo import undo_statements

VIEW, PROC = 1259, 1255  # pg_class, pg_proc


def view(name: str, oid: int, text: str) -> SchemaObject:
    return SchemaObject(
        "view",
        f"public.{name}",
        "public",
        name,
        None,
        text,
        create=f"CREATE VIEW {name} {text}",
        drop=f"DROP VIEW {name}",
        ref=(VIEW, oid),
    )


def catalog(objects: list[SchemaObject], on: dict[tuple[int, int], frozenset[tuple[int, int]]]) -> Catalog:
    by_type: dict[str, dict[str, SchemaObject]] = {}
    for o in objects:
        by_type.setdefault(o.type, {})[o.path] = o
    return replace(EMPTY_CATALOG, objects=by_type, dependencies=Dependencies(on))


def changed(o: SchemaObject) -> Finding:
    return Finding(f"{o.type}_changed", o.path, "high", "m", "live", object_type=o.type, schema=o.schema, name=o.name)


def test_a_view_on_a_view_is_dropped_first_and_made_last_and_its_unchanged_user_goes_with_it() -> None:
    # a <- b <- c (b reads a, c reads b); a and b differ, c does not; oids differ between the databases
    live = catalog(
        [view("a", 10, "1"), view("b", 11, "1"), view("c", 12, "same")],
        {(VIEW, 11): frozenset({(VIEW, 10)}), (VIEW, 12): frozenset({(VIEW, 11)})},
    )
    built = catalog(
        [view("a", 20, "2"), view("b", 21, "2"), view("c", 22, "same")],
        {(VIEW, 21): frozenset({(VIEW, 20)}), (VIEW, 22): frozenset({(VIEW, 21)})},
    )
    findings = [changed(live.objects["view"]["public.a"]), changed(live.objects["view"]["public.b"])]

    assert undo_statements(findings, live, built) == [
        "DROP VIEW c",
        "DROP VIEW b",
        "DROP VIEW a",
        "CREATE VIEW a 2",
        "CREATE VIEW b 2",
        "CREATE VIEW c same",
    ]


def test_a_function_that_returns_a_views_rows_is_made_after_the_view() -> None:
    func = SchemaObject(
        "function",
        "public.f()",
        "public",
        "f",
        None,
        "CREATE FUNCTION f",
        create="CREATE FUNCTION f",
        drop="DROP FUNCTION f()",
        ref=(PROC, 30),
    )
    built = catalog([view("v", 31, "x"), func], {(PROC, 30): frozenset({(VIEW, 31)})})
    missing = [
        Finding(f"{o.type}_missing", o.path, "high", "m", None, object_type=o.type) for o in (func, view("v", 31, "x"))
    ]

    assert undo_statements(missing, EMPTY_CATALOG, built) == ["CREATE VIEW v x", "CREATE FUNCTION f"]


def test_oids_are_no_part_of_a_catalogs_equality() -> None:
    # the suggestion's downgrade check compares catalogs: a view dropped and made again has new oids
    before = catalog([view("a", 10, "1"), view("b", 11, "1")], {(VIEW, 11): frozenset({(VIEW, 10)})})
    after = catalog([view("a", 40, "1"), view("b", 41, "1")], {(VIEW, 41): frozenset({(VIEW, 40)})})

    assert before == after
    assert before != catalog([view("a", 10, "2"), view("b", 11, "1")], {})
