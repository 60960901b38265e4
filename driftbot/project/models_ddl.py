"""The models' database O as a list of SQL statements, so a kept build can stand in for a new one.

`rendered` runs what the plain build runs (the schemas and extensions first, then `create_all`) on
SQLAlchemy's MockConnection, with the real connection's dialect, and keeps each statement's text as
the driver would receive it. The plain build then executes exactly that list, so a database built
from a list is the list's, and a database kept from an earlier build (runs/models_copies.py) holds
exactly its list's statements: when that list is contained in this run's, the rest of this run's
(`remainder`) turns a copy of it into what building from scratch would make.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.mock import MockConnection

log = logging.getLogger(__name__)


def rendered(
    dialect: Dialect, metadatas: Iterable[MetaData], default_schema: str, prepare: Callable[..., None]
) -> tuple[str, ...] | None:
    """The statements of the plain build, in order; None when the models' DDL cannot be rendered
    without a database (an event listener that reads from its connection, say). `prepare(conn,
    metadatas, default_schema=...)` makes what `create_all` needs first (models_db.prepare_models_database)."""
    statements: list[str] = []

    def execute(element: Any, parameters: object = None) -> None:
        if parameters:  # a statement with values to bind is not DDL: the list would not be the build
            raise ValueError(f"bound parameters in the models' DDL: {element}")
        statements.append(element.compile(dialect=dialect).string)

    mock: Any = MockConnection(dialect, execute)
    metadatas = tuple(metadatas)
    try:
        prepare(mock, metadatas, default_schema=default_schema)
        for metadata in metadatas:
            metadata.create_all(mock, checkfirst=False)
    except Exception as exc:  # the project's listeners may do anything with a connection they get
        log.debug("the models' DDL cannot be rendered without a database (%s): building with create_all", exc)
        return None
    return tuple(statements)


def execute_all(conn: Connection, statements: Iterable[str]) -> None:
    """Run the rendered statements on `conn` (text as compiled for this driver: `%%` stands for `%`)."""
    for statement in statements:
        conn.exec_driver_sql(statement)


def remainder(kept: Sequence[str], wanted: Sequence[str]) -> tuple[str, ...] | None:
    """The statements of `wanted`, in its order, that `kept` does not already hold; None unless every
    statement of `kept` is one of `wanted` (a kept database with anything more is not a prefix of this build)."""
    left = Counter(kept)
    rest = []
    for statement in wanted:
        if left[statement]:
            left[statement] -= 1
        else:
            rest.append(statement)
    return tuple(rest) if not +left else None
