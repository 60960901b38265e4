"""What every provider hands over, and scratch databases on any server."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from driftbot.errors import InfrastructureError
from driftbot.masking import mask_url

log = logging.getLogger(__name__)

DRIVER = "postgresql+psycopg"


@dataclass(frozen=True)
class Server:
    """A running PostgreSQL server, reachable through `admin_url` (a maintenance database)."""

    admin_url: URL
    provider: str
    version: str  # e.g. "15.18"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def libpq_conninfo(url: URL) -> str:
    """The URL as a libpq URI that psycopg understands (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connect_admin(url: URL, *, timeout: float = 10) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(libpq_conninfo(url), autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as exc:
        raise InfrastructureError(
            f"cannot connect to PostgreSQL at {display_url(url)}: {first_line(exc)}"
        ) from exc


def server_version(url: URL) -> str:
    with connect_admin(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0]).split(" ")[0]


def display_url(url: URL | str) -> str:
    """A URL safe to print: the password is masked (in the user part and in `?password=`)."""
    return mask_url(url)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def scratch_database(server: Server, label: str, template: str = "template0") -> Iterator[URL]:
    """A new, uniquely named database on `server` (empty, or a copy of `template`), dropped
    afterwards whatever happens. Only databases this function created are ever dropped.
    """
    name = f"driftbot_{secrets.token_hex(4)}_{label}"
    with connect_admin(server.admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'").format(
            sql.Identifier(name), sql.Identifier(template)))
    log.debug("created scratch database %s", name)
    try:
        yield server.admin_url.set(drivername=DRIVER, database=name)
    finally:
        with connect_admin(server.admin_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        log.debug("dropped scratch database %s", name)
