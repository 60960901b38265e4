"""The models' database O kept on a long-lived server, so the next run builds only what changed.

At 1,000 tables building O costs seconds of server time on every run, though a pull request
usually adds a model or two. Where the migrations' snapshots are kept as databases
(snapshot_databases.py: `--postgres url`, not the action's worker), each run's O is kept too, as a
database `driftbot_models_<key>` (no connections allowed; only a template), with the list of
statements that built it (project/models_ddl.py) in the cache directory, `models/<key>.json`. The
key hashes the PostgreSQL major version and the list. A later run whose own list contains a kept
one copies that database and runs only the rest of its list (the models' child decides which).
The same bound (`DRIFTBOT_SERVER_SNAPSHOTS`) and least-recently-used order as the migrations'
copies apply, counted apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from driftbot.postgres.base import Server
from driftbot.report.files import write_atomically
from driftbot.runs.snapshot_databases import MODELS_PREFIX, SnapshotDatabases, database_name
from driftbot.runs.snapshots import SnapshotCache

log = logging.getLogger(__name__)

LISTS_KEPT = 16  # statement files kept in the cache directory (their databases may be on other servers)


@dataclass(frozen=True)
class ModelsCopies:
    """The kept builds of O on one server and their statement lists."""

    databases: SnapshotDatabases
    lists: Path  # the statement files: <key>.json

    @classmethod
    def for_run(cls, cache_enabled: bool, server: Server) -> ModelsCopies | None:
        """Only where the migrations' snapshots are kept as databases, and the cache is this run's to write."""
        cache = SnapshotCache.from_env()
        if not cache_enabled or cache.store_root != cache.root:
            return None
        databases = SnapshotDatabases.for_server(server, MODELS_PREFIX)
        return cls(databases, cache.root / "models") if databases is not None else None

    def kept(self) -> tuple[tuple[str, str], ...]:
        """(key, statements file) of the builds kept on this server, most recently used first."""
        if not self.lists.is_dir():
            return ()
        on_server = self.databases.names()
        files = sorted(self.lists.glob("*.json"), key=_mtime, reverse=True)
        return tuple((f.stem, str(f)) for f in files if database_name(f.stem, MODELS_PREFIX) in on_server)[
            : self.databases.keep
        ]

    def copy_into(self, key: str, database: str) -> bool:
        """Replace the empty database `database` with a copy of the kept build `key`: whether it was there."""
        if not self.databases.copy_into(key, database):
            return False
        (self.lists / f"{key}.json").touch()
        return True

    def keep(self, statements: tuple[str, ...], database: str) -> None:
        """Keep `database` (built from exactly `statements`, nobody connected) for later runs."""
        key = list_key(self.databases.server.major, statements)
        path = self.lists / f"{key}.json"
        try:
            if not path.is_file():
                write_atomically(path, json.dumps({"statements": statements}))
            path.touch()
            self._prune()
        except OSError as exc:  # a full disk must not fail the check
            log.warning("could not keep the models' statements for later runs: %s", exc)
            return
        self.databases.keep_copy(key, database)

    def _prune(self) -> None:
        for old in sorted(self.lists.glob("*.json"), key=_mtime, reverse=True)[LISTS_KEPT:]:
            old.unlink(missing_ok=True)


def list_key(major: int, statements: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps([major, statements]).encode()).hexdigest()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
