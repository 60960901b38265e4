"""The live database: read-only, gentle connections and the one snapshot `detect` takes of it.

A production database is someone else's responsibility, so every connection driftbot opens
to it is, twice over, read-only and bounded in time:

- at connection start (libpq `options`): `default_transaction_read_only`, `statement_timeout`,
  `lock_timeout`, `idle_in_transaction_session_timeout`, and `application_name=driftbot` so a
  DBA can see (and cancel) it in pg_stat_activity;
- in the transaction itself: `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY` plus
  the same timeouts `SET LOCAL`, which also holds behind a pooler (PgBouncer) that refuses
  startup options: then driftbot connects without them and relies on the transaction settings.

Every transaction is rolled back, never committed. The reads are catalog queries (seven, see
catalog.py, whatever the database's size) and one `SELECT` of the Alembic version table.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from driftbot.compare.catalog import USER_SCHEMAS, Catalog, TableKey, read_catalog
from driftbot.errors import ConfigError, InfrastructureError
from driftbot.postgres.base import DRIVER, ScratchRole, libpq_conninfo
from driftbot.safety.sqlnames import literal, qualified, quote_ident, text_escaped
from driftbot.settings import Secret

log = logging.getLogger(__name__)

APPLICATION_NAME = "driftbot"
DEFAULT_VERSION_TABLE = "alembic_version"


class LiveDatabaseError(InfrastructureError):
    """The live database could not be reached or read: exit 4, one line, no password."""

    stage = "live"


@dataclass(frozen=True)
class LiveTarget:
    """The live database and how gently to treat it (timeouts in seconds)."""

    url: Secret
    statement_timeout: float = 30.0
    lock_timeout: float = 5.0
    connect_timeout: float = 10.0

    @property
    def sqlalchemy_url(self) -> URL:
        return make_url(self.url.value).set(drivername=DRIVER)

    @property
    def display(self) -> str:
        return mask_url(self.url.value)


def live_target(
    url: str | None, *, statement_timeout: float = 30.0, lock_timeout: float = 5.0, connect_timeout: float = 10.0
) -> LiveTarget:
    """Validate what the user gave; the URL itself never appears in a message."""
    if not url:
        raise ConfigError("no live database given: pass --database-url URL (or set DRIFTBOT_LIVE_DATABASE_URL)")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "--database-url is not a valid database URL", hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from exc
    if not parsed.drivername.startswith("postgresql") and parsed.drivername != "postgres":  # postgres://: Heroku
        raise ConfigError(f"--database-url must point at PostgreSQL, not {parsed.drivername!r}")
    for name, value in (
        ("--statement-timeout", statement_timeout),
        ("--lock-timeout", lock_timeout),
        ("--connect-timeout", connect_timeout),
    ):
        if not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, not {value}")
    return LiveTarget(Secret(url), statement_timeout, lock_timeout, connect_timeout)


def mask_url(url: str | URL) -> str:
    """The URL with its password hidden, in the user part and in a `?password=` parameter."""
    parsed = make_url(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def session_settings(target: LiveTarget) -> dict[str, str]:
    """What every live session and transaction runs under."""
    return {
        "default_transaction_read_only": "on",
        "statement_timeout": f"{_ms(target.statement_timeout)}ms",
        "lock_timeout": f"{_ms(target.lock_timeout)}ms",
        # a driftbot transaction is never idle for long; if it is, the server ends it
        "idle_in_transaction_session_timeout": f"{_ms(target.statement_timeout)}ms",
    }


def startup_options(target: LiveTarget) -> str:
    """libpq's `options`: the session settings, applied before driftbot's first query."""
    return " ".join(f"-c {name}={value}" for name, value in session_settings(target).items())


def _engine(target: LiveTarget, with_options: bool) -> Engine:
    url = target.sqlalchemy_url
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(target.connect_timeout)),
        "application_name": APPLICATION_NAME,
    }
    if with_options:
        user_options = url.query.get("options")
        ours = startup_options(target)
        connect_args["options"] = f"{user_options} {ours}" if isinstance(user_options, str) else ours
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


@contextmanager
def read_only(target: LiveTarget) -> Iterator[Connection]:
    """A connection inside one read-only, repeatable-read transaction, rolled back afterwards."""
    with _translated(target):
        engine = _engine(target, with_options=True)
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            if "unsupported startup parameter" not in str(exc.orig):
                raise
            log.info("the server (a pooler?) refuses startup options; using transaction settings only")
            engine.dispose()
            engine = _engine(target, with_options=False)
            conn = engine.connect()
        try:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for name, value in session_settings(target).items():
                if name != "default_transaction_read_only":
                    conn.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
            yield conn
        finally:
            with suppress(DBAPIError, psycopg.Error):  # a broken connection has ended the transaction already
                conn.rollback()  # never commit
            conn.close()
            engine.dispose()


@dataclass(frozen=True)
class LiveFacts:
    server_version: str  # e.g. "15.18"
    default_schema: str  # current_schema() of the live user
    user: str


@dataclass(frozen=True)
class LiveSnapshot:
    """What one read-only transaction saw: catalog, Alembic version rows, server facts."""

    facts: LiveFacts
    version_table: TableKey  # (schema, table)
    revisions: tuple[str, ...] | None  # the version table's rows; None: there is no such table
    catalog: Catalog | None  # None when only the version was read (`status`)
    seconds: float


def read_facts(conn: Connection) -> LiveFacts:
    row = conn.execute(text("SELECT current_setting('server_version'), current_schema(), current_user")).one()
    return LiveFacts(str(row[0]).split(" ")[0], str(row[1]), str(row[2]))


def read_revisions(conn: Connection, version_table: TableKey) -> tuple[str, ...] | None:
    """The version table's rows, sorted; None if the table does not exist (never stamped)."""
    schema, table = version_table
    exists = conn.execute(
        text("SELECT to_regclass(format('%I.%I', CAST(:s AS text), CAST(:t AS text)))"), {"s": schema, "t": table}
    ).scalar()
    if exists is None:
        return None
    rows = conn.execute(text(text_escaped(f"SELECT version_num FROM {qualified(schema, table)}")))
    return tuple(sorted(str(r[0]) for r in rows))


# Alembic's version table: one column, version_num (env.py may rename the table or move it)
VERSION_TABLES_SQL = f"""
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS}
GROUP BY n.nspname, c.relname
HAVING count(*) = 1 AND bool_and(a.attname = 'version_num')
ORDER BY 1, 2
"""


def find_version_table(conn: Connection, default_schema: str) -> TableKey:
    """The table shaped like Alembic's version table; `alembic_version` when there is none."""
    found = [(str(r[0]), str(r[1])) for r in conn.execute(text(VERSION_TABLES_SQL))]
    default = (default_schema, DEFAULT_VERSION_TABLE)
    if len(found) == 1:
        return found[0]
    if not found or default in found:
        return default
    raise ConfigError(
        "the live database has several Alembic version tables: " + ", ".join(".".join(key) for key in found),
        hint="pass --version-table [SCHEMA.]TABLE",
    )


def read_live(
    target: LiveTarget, version_table: tuple[str | None, str] | None, *, catalog: bool = True
) -> LiveSnapshot:
    """One read-only transaction: server facts, the catalog (unless `catalog=False`), the version rows.

    `version_table` is (schema or None for the live user's current schema, table); None: find it.
    """
    with read_only(target) as conn, _translated(target):
        started = time.perf_counter()
        facts = read_facts(conn)
        if version_table is None:
            key = find_version_table(conn, facts.default_schema)
        else:
            key = (version_table[0] or facts.default_schema, version_table[1])
        snapshot = read_catalog(conn, exclude=frozenset({key})) if catalog else None
        revisions = read_revisions(conn, key)
        seconds = round(time.perf_counter() - started, 4)
    return LiveSnapshot(facts, key, revisions, snapshot, seconds)


def probe(target: LiveTarget) -> LiveFacts:
    """Connect once, early, so an unreachable database fails before any scratch work."""
    with read_only(target) as conn, _translated(target):
        return read_facts(conn)


# --- errors: one line, the password never in it ------------------------------------------------------


def _scrub(message: str, target: LiveTarget) -> str:
    url = make_url(target.url.value)
    for secret in (target.url.value, url.password, url.query.get("password")):
        if isinstance(secret, str) and secret:
            message = message.replace(secret, "***")
    return message


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def describe_failure(exc: BaseException, target: LiveTarget) -> str:
    """The one line a user sees for a failed connection or read of the live database."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = _first_line(orig)
    where = target.display
    if isinstance(orig, pgerrors.QueryCanceled):
        return (
            f"reading the live database {where} took longer than the statement timeout "
            f"({target.statement_timeout:g}s) and was cancelled; raise --statement-timeout or run it off-peak"
        )
    if isinstance(orig, pgerrors.LockNotAvailable):
        return (
            f"reading the live database {where} waited longer than the lock timeout "
            f"({target.lock_timeout:g}s) for a lock another session holds (DDL running?); "
            "nothing was changed, try again later or raise --lock-timeout"
        )
    if isinstance(orig, pgerrors.InsufficientPrivilege):
        return f"the live database {where} refused a read: {reason} (driftbot needs SELECT on the version table)"
    if isinstance(orig, psycopg.OperationalError) and not isinstance(orig, pgerrors.IdleInTransactionSessionTimeout):
        reason = reason.removeprefix("connection failed: ").replace("FATAL:  ", "")
        if "timeout expired" in reason or "timed out" in reason:
            reason = f"no answer within {target.connect_timeout:g}s (--connect-timeout)"
        elif "no encryption" in reason:  # pg_hba.conf has only hostssl lines for us
            reason += " (the server requires SSL: add ?sslmode=require to the URL)"
        return f"cannot connect to the live database {where}: {reason}"
    return f"the live database {where}: {reason}"


@contextmanager
def _translated(target: LiveTarget) -> Iterator[None]:
    try:
        yield
    except (DBAPIError, psycopg.Error) as exc:
        log.debug("live database error", exc_info=exc)
        raise LiveDatabaseError(_scrub(describe_failure(exc, target), target)) from None


translated = _translated  # tenants.py reads in the same way: one line, no password


# --- --fix: a scratch copy of the live schema --------------------------------------------------------
#
# The copy holds the live database's own code (functions, triggers, rules), written by whoever owns
# its tables there: untrusted. It is restored and worked on as a NOSUPERUSER role that owns the copy
# (postgres/base.py: scratch_role); the server's superuser only creates the extensions the live
# database has, in the empty schemas, before any restored code exists. No superuser session ever runs
# a statement that could fire restored code.


class SchemaCopyError(InfrastructureError):
    stage = "fix"


# pg_dump's TOC entries by catalog: what the role restores first, what only the superuser creates, and
# what is not restored at all (event triggers: a superuser's, they would fire on every DDL)
_PG_NAMESPACE, _PG_EXTENSION, _PG_EVENT_TRIGGER = 2615, 3079, 3466
_TOC_ENTRY = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
_NOT_RESTORED_COMMENTS = ("COMMENT - EXTENSION ", "COMMENT - EVENT TRIGGER ")


def client_bindir(live_major: int, scratch_major: int) -> Path:
    """pg_dump and pg_restore: the scratch server's major version if it can dump the live one, else
    the oldest that can (pg_dump refuses servers newer than itself; its output targets its own version).
    """
    found: dict[int, Path] = {}
    candidates = [Path(os.environ["DRIFTBOT_PG_BINDIR"])] if os.environ.get("DRIFTBOT_PG_BINDIR") else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    if which := shutil.which("pg_dump"):
        candidates.append(Path(which).parent)
    for bindir in candidates:
        if (bindir / "pg_dump").is_file() and (bindir / "pg_restore").is_file():
            major = _tool_major(bindir / "pg_dump")
            if major is not None:
                found.setdefault(major, bindir)
    usable = sorted(m for m in found if m >= live_major)
    if not usable:
        have = ", ".join(str(m) for m in sorted(found)) or "none"
        raise SchemaCopyError(f"copying the live schema needs pg_dump {live_major} or newer (found: {have})")
    return found[scratch_major] if scratch_major in usable else found[usable[0]]


def _tool_major(tool: Path) -> int | None:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _without_password(url: URL) -> tuple[str, str | None]:
    """A libpq URI without the password (argv is visible to other users) and the password."""
    password = url.password or url.query.get("password")
    bare = url.set(drivername="postgresql", password=None).difference_update_query(["password"])
    return bare.render_as_string(hide_password=False), password if isinstance(password, str) else None


@dataclass(frozen=True)
class SchemaDump:
    """pg_dump's archive (custom format) of the live schema, and the binaries that read it."""

    archive: Path
    bindir: Path


def dump_schema(target: LiveTarget, snapshot: LiveSnapshot, scratch_major: int, workdir: Path) -> SchemaDump:
    """`pg_dump --schema-only` of the live database into `workdir` (the only step that needs its secrets).

    pg_dump reads in its own read-only repeatable-read transaction; driftbot adds
    `default_transaction_read_only` and `--lock-wait-timeout`. It takes ACCESS SHARE locks on the
    tables it describes (which only conflict with DDL) for the second or so that it runs.
    """
    live_major = int(snapshot.facts.server_version.split(".")[0])
    bindir = client_bindir(live_major, scratch_major)
    live_uri, live_password = _without_password(target.sqlalchemy_url)
    dump_env = {
        **os.environ,
        "PGAPPNAME": APPLICATION_NAME,
        "PGOPTIONS": f"-c default_transaction_read_only=on -c lock_timeout={_ms(target.lock_timeout)}ms",
        "PGCONNECT_TIMEOUT": str(max(1, round(target.connect_timeout))),
    }
    if live_password is not None:
        dump_env["PGPASSWORD"] = live_password
    major = _tool_major(bindir / "pg_dump") or 0
    archive = workdir / "live-schema.dump"
    cmd = [
        str(bindir / "pg_dump"),
        "--schema-only",
        "--format=custom",
        f"--file={archive}",
        *(["--no-toast-compression"] if major >= 14 else []),
        f"--lock-wait-timeout={_ms(target.lock_timeout)}",
        f"--dbname={live_uri}",
    ]
    _run_tool(cmd, dump_env, target, max(60.0, 4 * target.statement_timeout), "pg_dump of the live schema")
    return SchemaDump(archive, bindir)


def restore_schema(dump: SchemaDump, snapshot: LiveSnapshot, copy: URL, role: ScratchRole, target: LiveTarget) -> None:
    """The live schema restored into `copy` (owned by `role`) as `role`, with the version table's rows,
    so the copy is at the live database's revision.

    Three passes over the archive: the schemas (as the role); the live database's extensions (as
    the superuser: they may need it, and nothing restored exists yet to run); everything else but
    event triggers (as the role).
    """
    listing = _run_tool(
        [str(dump.bindir / "pg_restore"), "--list", str(dump.archive)],
        _scratch_env(role),
        target,
        60.0,
        "reading the live schema's dump",
    )
    schemas, rest = _restore_lists(listing)
    _restore(dump, schemas, copy, role, target)
    _create_extensions(copy, snapshot.catalog.extensions if snapshot.catalog else ())
    _restore(dump, rest, copy, role, target)
    if snapshot.revisions:
        _write_versions(role.url(copy), snapshot.version_table, snapshot.revisions, role.replica)


def _restore_lists(listing: str) -> tuple[list[str], list[str]]:
    """pg_restore's TOC split into (the schemas, everything restored after the extensions)."""
    schemas: list[str] = []
    rest: list[str] = []
    for line in listing.splitlines():
        entry = _TOC_ENTRY.match(line)
        if entry is None:
            continue  # comments and blank lines
        catalog, what = int(entry.group(2)), entry.group(4)
        if catalog == _PG_NAMESPACE:
            schemas.append(line)
        elif catalog not in (_PG_EXTENSION, _PG_EVENT_TRIGGER) and not what.startswith(_NOT_RESTORED_COMMENTS):
            rest.append(line)
    return schemas, rest


def _scratch_env(role: ScratchRole) -> dict[str, str]:
    # the user's PG* variables are for the live database, not for driftbot's scratch server
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = role.password
    return env


def _restore(dump: SchemaDump, entries: list[str], copy: URL, role: ScratchRole, target: LiveTarget) -> None:
    if not entries:
        return
    listing = dump.archive.with_suffix(f".{secrets.token_hex(4)}.list")
    listing.write_text("\n".join(entries) + "\n", encoding="utf-8")
    uri, _ = _without_password(role.url(copy))
    major = _tool_major(dump.bindir / "pg_restore") or 0
    cmd = [
        str(dump.bindir / "pg_restore"),
        "--exit-on-error",
        "--single-transaction",
        "--no-owner",
        "--no-privileges",
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--no-tablespaces",
        *(["--no-table-access-method"] if major >= 15 else []),
        f"--use-list={listing}",
        f"--dbname={uri}",
        str(dump.archive),
    ]
    _run_tool(cmd, _scratch_env(role), target, 300.0, "restoring the live schema into a scratch database")


def _create_extensions(copy: URL, extensions: tuple[tuple[str, str], ...]) -> None:
    """As the superuser, in the still empty copy: the extensions, which may need it to be created."""
    if not extensions:
        return
    with psycopg.connect(libpq_conninfo(copy), autocommit=True) as conn:
        for name, schema in extensions:
            try:
                conn.execute(
                    f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)} WITH SCHEMA {quote_ident(schema)} CASCADE"
                )
            except psycopg.Error as exc:
                raise SchemaCopyError(
                    f"the live database's extension {name} cannot be created on the scratch server: {_first_line(exc)}"
                ) from exc


def _write_versions(url: URL, version_table: TableKey, revisions: tuple[str, ...], replica: bool) -> None:
    """The version rows, as the role; replica mode keeps the copy's ordinary triggers from firing."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        if replica:
            conn.execute("SET LOCAL session_replication_role = replica")
        for revision in revisions:
            conn.execute(f"INSERT INTO {qualified(*version_table)} (version_num) VALUES ({literal(revision)})")


def _run_tool(cmd: list[str], env: dict[str, str], target: LiveTarget, timeout: float, what: str) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SchemaCopyError(f"{what} did not finish within {timeout:g}s") from None
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()] or result.stderr.splitlines()
        reason = errors[0].strip() if errors else f"exit status {result.returncode}"
        raise SchemaCopyError(_scrub(f"{what} failed: {reason}", target))
    return result.stdout
