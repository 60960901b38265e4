"""Plain helpers the tests share (fixtures live in conftest.py): SQL on a test server as its admin."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL, make_url

from driftbot.postgres.base import libpq_conninfo


def libpq(url: str | URL) -> str:
    """A SQLAlchemy URL (any driver) as the libpq URI psycopg connects with, password kept."""
    return libpq_conninfo(make_url(url))


def sql(url: str | URL, *statements: str) -> None:
    """Run each statement in autocommit (CREATE DATABASE, DROP ROLE, ... included)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
