"""The models' DDL as a list of statements, and what a kept list leaves to run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, event, text
from sqlalchemy.dialects import postgresql

from driftbot.project.models_ddl import remainder, rendered


def no_prepare(conn: Any, metadatas: Any, default_schema: str) -> None:
    pass


def test_the_list_is_create_all_s_statements_in_order_as_the_driver_receives_them() -> None:
    md = MetaData()
    Table("a", md, Column("id", Integer, primary_key=True), Column("n", String(9), server_default=text("'50%'")))
    Table("b", md, Column("id", Integer, primary_key=True), comment="100% : done")
    statements = rendered(postgresql.psycopg.dialect(), [md], "public", no_prepare)
    assert statements is not None and [s.split("(")[0].strip() for s in statements] == [
        "CREATE TABLE a",
        "CREATE TABLE b",
        "COMMENT ON TABLE b IS '100%% : done'",  # pyformat: the driver reads %% as %
    ]
    assert "DEFAULT '50%%'" in statements[0]


def test_a_listener_that_reads_from_its_connection_makes_the_list_unknowable() -> None:
    md = MetaData()
    table = Table("a", md, Column("id", Integer, primary_key=True))
    event.listen(table, "after_create", lambda target, conn, **kw: conn.execute(text("SELECT 1")).scalar())
    assert rendered(postgresql.psycopg.dialect(), [md], "public", no_prepare) is None


def test_the_remainder_keeps_this_runs_order_and_needs_everything_kept() -> None:
    assert remainder(["A", "C"], ["A", "B", "C", "D"]) == ("B", "D")
    assert remainder([], ["A"]) == ("A",)
    assert remainder(["A", "B"], ["B", "A"]) == ()
    assert remainder(["A", "X"], ["A", "B"]) is None  # the kept build holds X, this run does not declare it
    assert remainder(["A", "A"], ["A", "B"]) is None  # as many times as it is kept
    assert remainder(["A"], ["A", "A"]) == ("A",)
