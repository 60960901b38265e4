"""What every provider hands over, and scratch databases on any server."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from driftbot.errors import InfrastructureError
from driftbot.safety.masking import mask_url

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
        raise InfrastructureError(f"cannot connect to PostgreSQL at {display_url(url)}: {first_line(exc)}") from exc


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


@dataclass(frozen=True)
class ScratchRole:
    """A login role that owns scratch databases holding untrusted schemas (a live database's copy):
    not a superuser, cannot create databases or roles, so code restored into them runs without privileges.
    """

    name: str
    password: str = field(repr=False)
    replica: bool = False  # may SET session_replication_role (PostgreSQL 15+: GRANT SET ON PARAMETER)

    def url(self, url: URL) -> URL:
        """`url` (a scratch database's) connecting as this role."""
        return url.set(username=self.name, password=self.password)


ROLE_PREFIX = "driftbot_"
# who made a scratch role: `driftbot cleanup` drops those whose run is gone (a SIGKILL skips the DROP ROLE)
ROLE_COMMENT = "driftbot scratch role of process {pid} on {host}"


@contextmanager
def scratch_role(server: Server) -> Iterator[ScratchRole]:
    """A new role with a random name and password on `server`, dropped afterwards (after the
    databases it owns: enter this first)."""
    name, password = f"{ROLE_PREFIX}{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    role = sql.Identifier(name)
    with connect_admin(server.admin_url) as conn:
        try:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                ).format(role, sql.Literal(password))
            )
        except psycopg.Error as exc:
            raise InfrastructureError(
                f"cannot create a role on the scratch server {display_url(server.admin_url)}: {first_line(exc)}",
                hint="copies of live schemas are worked on as an unprivileged role: the scratch server's "
                "user needs CREATEROLE (or a server of driftbot's own: --postgres local|docker)",
            ) from exc
        comment = ROLE_COMMENT.format(pid=os.getpid(), host=socket.gethostname())
        try:
            conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(role, sql.Literal(comment)))
        except psycopg.Error as exc:  # PostgreSQL 16+ without ADMIN on it: only cleanup misses it
            log.debug("cannot comment on scratch role %s: %s", name, first_line(exc))
        if not _is_superuser(conn):  # to hand it databases, a CREATEROLE user must be a member
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
        replica = _grant_replica(conn, role) if server.major >= 15 else False
    log.debug("created scratch role %s", name)
    try:
        yield ScratchRole(name, password, replica)
    finally:
        with connect_admin(server.admin_url) as conn:
            if replica:
                conn.execute(sql.SQL("REVOKE SET ON PARAMETER session_replication_role FROM {}").format(role))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
        log.debug("dropped scratch role %s", name)


def _is_superuser(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def _grant_replica(conn: psycopg.Connection[tuple[object, ...]], role: sql.Identifier) -> bool:
    try:
        conn.execute(sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}").format(role))
    except psycopg.Error as exc:  # not a superuser: the role writes without it, still unprivileged
        log.debug("cannot grant SET session_replication_role: %s", first_line(exc))
        return False
    return True


@contextmanager
def scratch_database(
    server: Server, label: str, template: str = "template0", owner: ScratchRole | None = None
) -> Iterator[URL]:
    """A new, uniquely named database on `server` (empty, or a copy of `template`), dropped
    afterwards whatever happens. Only databases this function created are ever dropped.

    The URL connects as the server's admin user; with `owner`, the database is that role's.
    """
    name = f"driftbot_{secrets.token_hex(4)}_{label}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    if owner is not None:
        create = sql.SQL("{} OWNER {}").format(create, sql.Identifier(owner.name))
    with connect_admin(server.admin_url) as conn:
        conn.execute(create)
    log.debug("created scratch database %s", name)
    try:
        yield server.admin_url.set(drivername=DRIVER, database=name)
    finally:
        with connect_admin(server.admin_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        log.debug("dropped scratch database %s", name)
