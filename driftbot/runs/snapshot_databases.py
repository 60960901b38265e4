"""Cached snapshots kept as databases on a long-lived server: restored by copying files.

`pg_restore` of a large archive replays every CREATE of it (11,000 objects, 1,000 tables: ~5 s,
bound by the server, not helped by `-j`); `CREATE DATABASE ... TEMPLATE` of the same database copies
its files (~0.3 s). On a server that outlives the run (`--postgres url`: a dev box, a shared CI
server), the migrations' database at a cached head is therefore also kept as a database
`driftbot_snapshot_<id>`, where the id hashes the key and the archive's bytes (snapshots.py): later
runs on that server with that very archive copy it instead of restoring the archive.

A copy only stands in for an archive of the cache: it is used for a key whose archive the cache
holds (the cache decides what is cached; `--no-cache`, eviction and a fresh cache directory behave as
before), and it holds exactly what the archive holds (made from the database the archive was
made from, or restored from it). Nobody connects to a copy (ALLOW_CONNECTIONS false); it is only a
template. At most `DRIFTBOT_SERVER_SNAPSHOTS` copies (default 4, 0: none) stay on a server,
the least recently used go first; each copy's comment says when it was last used.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import Server, connect_admin, first_line
from driftbot.safety.sqlnames import literal, quote_ident

log = logging.getLogger(__name__)

PREFIX = "driftbot_snapshot_"
MODELS_PREFIX = "driftbot_models_"  # the models' databases (runs/models_copies.py), LRU apart from the migrations'
DEFAULT_KEEP = 4
COMMENT = "driftbot snapshot, last used "  # + the epoch seconds: the LRU order


def keep_from_env(default: int = DEFAULT_KEEP) -> int:
    value = os.environ.get("DRIFTBOT_SERVER_SNAPSHOTS", "").strip()
    return int(value) if value.isdigit() else default


def database_name(key: str, prefix: str = PREFIX) -> str:
    return prefix + key[:40]  # 63 bytes at most: 18 + 40, still unique for a sha256 in practice


@dataclass(frozen=True)
class SnapshotDatabases:
    """The copies of cached snapshots on one server; every failure here means "no copy", never an error."""

    server: Server
    keep: int = DEFAULT_KEEP
    prefix: str = PREFIX

    @classmethod
    def for_server(cls, server: Server, prefix: str = PREFIX) -> SnapshotDatabases | None:
        """Only servers that outlive the run keep copies: driftbot's own (local, docker) are gone after it."""
        keep = keep_from_env()
        return cls(server, keep, prefix) if server.provider == "url" and keep > 0 else None

    def copy_into(self, key: str, database: str) -> bool:
        """Replace the empty scratch database `database` (no connections to it) with a copy of the
        snapshot `key`: whether there was one. On a failure the database is empty again."""
        source = database_name(key, self.prefix)
        with _admin(self.server) as conn:
            if conn is None or not _exists(conn, source):
                return False
            try:
                conn.execute(f"DROP DATABASE {quote_ident(database)}")  # fails while anyone is connected
            except psycopg.Error as exc:
                log.debug("cannot replace %s (%s): restoring the archive instead", database, first_line(exc))
                return False
            try:
                conn.execute(
                    f"CREATE DATABASE {quote_ident(database)} TEMPLATE {quote_ident(source)}{self._strategy()}"
                )
            except psycopg.Error as exc:  # dropped by another run's eviction meanwhile, say
                log.debug("copying %s failed (%s): restoring the archive instead", source, first_line(exc))
                conn.execute(f"CREATE DATABASE {quote_ident(database)} TEMPLATE template0 ENCODING 'UTF8'")
                return False
            _mark_used(conn, source)
        log.debug("restored snapshot %s by copying database %s", key, source)
        return True

    def empty(self, database: str) -> None:
        """Make `database` (no connections to it) empty again: dropped and created anew."""
        with _admin(self.server) as conn:
            if conn is None:
                raise InfrastructureError(f"cannot connect to the server to empty database {database}")
            conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)}")
            conn.execute(f"CREATE DATABASE {quote_ident(database)} TEMPLATE template0 ENCODING 'UTF8'")

    def keep_copy(self, key: str, database: str) -> None:
        """Keep a copy of `database` (the snapshot `key`, no connections to it) for later runs."""
        target = database_name(key, self.prefix)
        with _admin(self.server) as conn:
            if conn is None or _exists(conn, target):
                return
            try:
                conn.execute(
                    f"CREATE DATABASE {quote_ident(target)} TEMPLATE {quote_ident(database)}{self._strategy()}"
                )
                conn.execute(f"ALTER DATABASE {quote_ident(target)} ALLOW_CONNECTIONS false")
                _mark_used(conn, target)
            except psycopg.Error as exc:  # someone is still connected to it, another run made it, no room...
                log.debug("could not keep database %s: %s", target, first_line(exc))
                return
            self._evict(conn)
        log.debug("kept snapshot %s as database %s", key, target)

    def rename_copy(self, key: str, new_key: str) -> None:
        """The copy kept as `key` (nobody connects to one) goes by `new_key` from now on; if that
        name is taken already (another run kept the same archive's copy), it is dropped instead."""
        source, target = database_name(key, self.prefix), database_name(new_key, self.prefix)
        with _admin(self.server) as conn:
            if conn is None:
                return
            try:
                if _exists(conn, target):
                    conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(source)}")
                else:
                    conn.execute(f"ALTER DATABASE {quote_ident(source)} RENAME TO {quote_ident(target)}")
            except psycopg.Error as exc:  # evicted by another run meanwhile, say: no copy
                log.debug("could not rename database %s to %s: %s", source, target, first_line(exc))
                return
        log.debug("kept snapshot %s as database %s", new_key, target)

    def drop_copy(self, key: str) -> None:
        """Drop the copy kept as `key` (its archive could not be written: it stands in for nothing)."""
        with _admin(self.server) as conn:
            if conn is None:
                return
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database_name(key, self.prefix))}")
            except psycopg.Error as exc:
                log.debug("could not drop database %s: %s", database_name(key, self.prefix), first_line(exc))

    def names(self) -> frozenset[str]:
        """The copies on the server now."""
        with _admin(self.server) as conn:
            if conn is None:
                return frozenset()
            rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (self.prefix,))
            return frozenset(str(row[0]) for row in rows.fetchall())

    def _strategy(self) -> str:
        # PostgreSQL 15 copies through the WAL by default: 3x slower here for a copy of 1,000 tables
        return " STRATEGY FILE_COPY" if self.server.major >= 15 else ""

    def _evict(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        rows = conn.execute(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database"
            " WHERE starts_with(datname, %s)",
            (self.prefix,),
        ).fetchall()
        ordered = sorted(rows, key=lambda row: _last_used(str(row[1])), reverse=True)
        for name, _ in ordered[self.keep :]:
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(str(name))}")
                log.debug("evicted snapshot database %s", name)
            except psycopg.Error as exc:  # being copied right now: next time
                log.debug("could not evict %s: %s", name, first_line(exc))


@contextmanager
def _admin(server: Server) -> Iterator[psycopg.Connection[tuple[object, ...]] | None]:
    """An admin connection, or None when the server refuses one (then there is no copy)."""
    try:
        conn = connect_admin(server.admin_url)
    except InfrastructureError as exc:
        log.debug("no snapshot databases: %s", exc)
        yield None
        return
    with conn:
        yield conn


def _exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _mark_used(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    conn.execute(f"COMMENT ON DATABASE {quote_ident(name)} IS {literal(COMMENT + f'{time.time():.3f}')}")


def _last_used(comment: str) -> float:
    try:
        return float(comment.removeprefix(COMMENT)) if comment.startswith(COMMENT) else 0.0
    except ValueError:
        return 0.0
