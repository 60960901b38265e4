"""Containment registers its own dialect for SQLite URLs; models written for SQLite must still import."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table

from driftbot.safety import containment


def test_tables_with_sqlite_arguments_are_still_accepted() -> None:
    containment._install()  # what the first step of a run does
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        sqlite_autoincrement=True,
        postgresql_partition_by="RANGE (id)",
    )
    assert table.dialect_options["sqlite"]["autoincrement"] is True
    assert table.dialect_options["postgresql"]["partition_by"] == "RANGE (id)"
