"""Snapshots of migration prefixes (DESIGN.md §2b): a pull request pays for its new revisions only.

After the migrations reached the heads, the migrations' database is kept as a `pg_dump` archive
(schema and data) per head, under a key that is a content hash of everything that decides what
the revisions up to it build: each revision file's bytes and its parents' keys, the env.py and
alembic.ini, what `--baseline` adds, PostgreSQL's major version, and the versions of Alembic and
SQLAlchemy. A later run restores the deepest cached revision of its own chain and runs only the
rest: editing any revision (or env.py) changes its key and the keys of everything after it, so
exactly the snapshots after it stop matching.

The cache lives in `DRIFTBOT_CACHE_DIR` (default `~/.cache/driftbot`)/snapshots (or exactly in
`DRIFTBOT_SNAPSHOT_DIR`, e.g. a directory a workflow keeps with actions/cache), bounded by
`DRIFTBOT_CACHE_MAX_MB` (default 2048): least recently used archives go first.

Where the run is not trusted to write that directory (the action's worker: a pull request's
code runs in this process), `DRIFTBOT_SNAPSHOT_STORE_DIR` names where new archives go instead,
for the trusted side to `adopt` or drop, and `DRIFTBOT_SNAPSHOT_STORE=off` stores none at all.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import secrets
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import alembic
import sqlalchemy
from sqlalchemy.engine import URL

from driftbot.project.locate import Project
from driftbot.runs.snapshot_databases import SnapshotDatabases

log = logging.getLogger(__name__)

FORMAT = "1"  # bump when what a snapshot holds changes
DEFAULT_MAX_MB = 2048


@dataclass(frozen=True)
class Restored:
    """What the migrations' database started from: a cached revision instead of an empty database."""

    revision: str
    key: str


ARCHIVE_NAME = re.compile(r"^[0-9a-f]{64}\.dump$")  # what store() writes: a key and the suffix


def store_dir() -> Path | None:
    """Where this run's new archives go: DRIFTBOT_SNAPSHOT_STORE_DIR, else the cache itself."""
    value = os.environ.get("DRIFTBOT_SNAPSHOT_STORE_DIR")
    return Path(value) if value else None


def stores() -> bool:
    return os.environ.get("DRIFTBOT_SNAPSHOT_STORE", "on").lower() not in ("off", "0", "false", "no")


def cache_dir() -> Path:
    if os.environ.get("DRIFTBOT_SNAPSHOT_DIR"):
        return Path(os.environ["DRIFTBOT_SNAPSHOT_DIR"])
    base = os.environ.get("DRIFTBOT_CACHE_DIR") or str(Path.home() / ".cache" / "driftbot")
    return Path(base) / "snapshots"


def chain_keys(project: Project, env_files: tuple[Path, ...], baseline: bytes, pg_major: int) -> dict[str, str]:
    """Each revision's key: its file's bytes, its parents' keys and what every revision shares.

    A revision that imports the project's own modules (its models, say) builds what those modules
    say: its key also covers every Python file of the project outside the versions directories.
    """
    shared = hashlib.sha256()
    for part in (FORMAT, str(pg_major), alembic.__version__, sqlalchemy.__version__):
        shared.update(part.encode() + b"\0")
    for path in env_files:
        shared.update(path.read_bytes() if path.is_file() else b"-")
        shared.update(b"\0")
    shared.update(baseline)
    base = shared.hexdigest()
    project_code: list[str] = []  # computed once, if a revision needs it
    mentions = project_mentions(project.root)
    keys: dict[str, str] = {}
    for revision in project.revisions:  # base first: parents always have their key already
        source = Path(revision.file).read_bytes()
        digest = hashlib.sha256(base.encode())
        digest.update(source)
        for parent in revision.down_revisions:
            digest.update(keys.get(parent, "?").encode())
        if imports_project_code(source, project.root, mentions):
            if not project_code:
                project_code.append(_project_code_digest(project))
            digest.update(project_code[0].encode())
        keys[revision.revision] = digest.hexdigest()
    return keys


def imports_project_code(source: bytes, root: Path, mentions: re.Pattern[bytes] | None = None) -> bool:
    """Whether a revision file imports a module that lives in the project (not an installed package).

    `mentions` (of `project_mentions(root)`) skips the parse of a file that names no module of the
    project at all, as most revision files: parsing 1,500 of them on every run costs seconds.
    """
    if not (mentions or project_mentions(root)).search(source):
        return False
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # alembic will say what is wrong; never trust a cache for it
    for node in ast.walk(tree):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
        for name in names:
            top = name.split(".")[0]
            if top and ((root / top).is_dir() or (root / f"{top}.py").is_file()):
                return True
        if isinstance(node, ast.ImportFrom) and node.level:
            return True
    return False


def project_mentions(root: Path) -> re.Pattern[bytes]:
    """A word that may start an import of the project's own code: a module or package at its root, or
    a relative import. Case-insensitive, as some file systems are: it may match more, never less."""
    names = sorted(
        {
            entry.stem if entry.suffix == ".py" else entry.name
            for entry in _entries(root)
            if entry.is_dir() or entry.suffix == ".py"
        }
    )
    if not all(name.isascii() for name in names):
        return re.compile(b"")  # bytes patterns know ASCII word boundaries only: parse every file
    words = [re.escape(name.encode()) for name in names if name.isidentifier()]
    return re.compile(rb"\bfrom[\s\\]*\." + b"".join(rb"|\b" + word + rb"\b" for word in words), re.IGNORECASE)


def _entries(root: Path) -> list[Path]:
    try:
        return list(root.iterdir())
    except OSError:
        return []


_SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"})


def _project_code_digest(project: Project) -> str:
    versions = {Path(r.file).parent for r in project.revisions}
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(project.root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS and Path(dirpath, d) not in versions)
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = Path(dirpath, name)
                digest.update(str(path.relative_to(project.root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def depth(project: Project) -> dict[str, int]:
    """How many revisions upgrading to each revision runs (itself and all its ancestors)."""
    parents = {r.revision: r.down_revisions for r in project.revisions}
    ancestors: dict[str, frozenset[str]] = {}
    for revision in project.revisions:
        found = {revision.revision}
        for parent in parents[revision.revision]:
            found |= ancestors.get(parent, frozenset())
        ancestors[revision.revision] = frozenset(found)
    return {rev: len(found) for rev, found in ancestors.items()}


def max_bytes_from_env(default_mb: int = DEFAULT_MAX_MB) -> int:
    return int(os.environ.get("DRIFTBOT_CACHE_MAX_MB") or default_mb) * 1024 * 1024


class SnapshotCache:
    """Archives are looked up in `root` and written to `store_root` (the same directory, unless a
    trusted caller adopts what this run writes); `store_root` None: nothing is written."""

    def __init__(
        self,
        root: Path | None = None,
        max_bytes: int | None = None,
        *,
        store_root: Path | None = None,
        writes: bool = True,
    ) -> None:
        self.root = root or cache_dir()
        self.store_root = (store_root or self.root) if writes else None
        self.max_bytes = max_bytes if max_bytes is not None else max_bytes_from_env()

    @classmethod
    def from_env(cls) -> SnapshotCache:
        return cls(store_root=store_dir(), writes=stores())

    def path(self, key: str) -> Path:
        return self.root / f"{key}.dump"

    def store_path(self, key: str) -> Path | None:
        return self.store_root / f"{key}.dump" if self.store_root is not None else None

    def has(self, key: str) -> bool:
        return any((root / f"{key}.dump").is_file() for root in {self.root, self.store_root} if root is not None)

    def deepest(self, keys: Mapping[str, str], depths: Mapping[str, int]) -> tuple[str, str] | None:
        """The cached revision whose upgrade runs the most revisions: (revision, key)."""
        cached = [(depths.get(rev, 0), rev, key) for rev, key in keys.items() if self.path(key).is_file()]
        if not cached:
            return None
        _, revision, key = max(cached)
        return revision, key

    def touch(self, key: str) -> None:
        with suppress(OSError):  # least recently *used*, not written; a cache we may only read stays as it is
            os.utime(self.path(key))

    def store(self, key: str, url: URL, bindir: Path) -> None:
        """Archive the database at `url` under `key` (written to a temporary file, then renamed)."""
        if self.store_root is None:
            return
        self.store_root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.store_root, prefix=".incoming-", suffix=".dump")
        os.close(fd)
        try:
            _tool(bindir / "pg_dump", url, ["--format=custom", "--compress=1", "--no-sync", f"--file={tmp}"])
            os.replace(tmp, self.store_root / f"{key}.dump")
        finally:
            Path(tmp).unlink(missing_ok=True)
        if self.store_root == self.root:
            self.evict()

    def restore(self, key: str, url: URL, bindir: Path) -> None:
        """Restore the archive into the empty database at `url`; any error fails the restore."""
        _tool(
            bindir / "pg_restore",
            url,
            ["--exit-on-error", "--no-owner", "--single-transaction", str(self.path(key))],
            dbname_flag=True,
        )
        self.touch(key)

    def evict(self) -> None:
        """Least recently used archives go until the cache fits its bound."""
        archives = sorted(self.root.glob("*.dump"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for archive in archives:
            total += archive.stat().st_size
            if total > self.max_bytes:
                archive.unlink(missing_ok=True)
                log.debug("evicted snapshot %s", archive.name)

    def adopt(self, incoming: int) -> tuple[str, ...]:
        """Copy the archives an untrusted run wrote into the directory `incoming` (an open file
        descriptor: the run may rename or replace the path) into this cache: the keys taken.

        Only what store() writes is taken: `<sha256>.dump`, a plain file with one link, at most
        the cache's bound; links are never followed. What an archive holds is not checked (it is
        restored into scratch databases only; SECURITY.md says who may write the cache).
        """
        taken = []
        self.root.mkdir(parents=True, exist_ok=True)
        for name in sorted(os.listdir(incoming)):
            if ARCHIVE_NAME.match(name) and _copy_plain_file(incoming, name, self.root, self.max_bytes):
                taken.append(name.removesuffix(".dump"))
        self.evict()
        return tuple(taken)


def _copy_plain_file(dir_fd: int, name: str, directory: Path, max_bytes: int) -> bool:
    """Copy `name` (in `dir_fd`) into `directory`, as ours (0644), if it is a plain file that fits."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fin:
        st = os.fstat(fin.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > max_bytes:
            return False
        out, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".dump")
        try:
            with os.fdopen(out, "wb") as fout:
                copied = _copy_at_most(fin, fout, max_bytes)
                os.fchmod(fout.fileno(), 0o644)  # the worker's account and actions/cache read it
            if copied:
                os.replace(tmp, directory / name)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return copied


def _copy_at_most(fin: BinaryIO, fout: BinaryIO, max_bytes: int) -> bool:
    """Copy until EOF; False if the file grew past `max_bytes` while it was copied."""
    total = 0
    while chunk := fin.read(1 << 20):
        total += len(chunk)
        if total > max_bytes:
            return False
        fout.write(chunk)
    return True


def _tool(tool: Path, url: URL, args: list[str], dbname_flag: bool = False) -> None:
    """pg_dump / pg_restore against a scratch database; the password goes by environment, never argv."""
    target = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
    cmd = [str(tool), *args, f"--dbname={target}"] if not dbname_flag else [str(tool), f"--dbname={target}", *args]
    env = {**os.environ, "PGPASSWORD": str(url.password or ""), "PGCONNECT_TIMEOUT": "10"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SnapshotError(f"{tool.name} failed: {done.stderr.strip()[-500:]}")


class SnapshotError(Exception):
    """A snapshot could not be written or restored: the run goes on cold."""


@dataclass(frozen=True)
class ProjectSnapshots:
    """The cache as one project's chain sees it."""

    cache: SnapshotCache
    keys: Mapping[str, str]
    depths: Mapping[str, int]
    bindir: Path
    databases: SnapshotDatabases | None = None  # copies on a long-lived server, restored by copying files

    def restore_deepest(self, url: URL, among: Collection[str] | None = None) -> str | None:
        """Restore the deepest cached revision (of `among`, if given) into the empty database `url`
        (no connections to it): that revision, or None."""
        keys = self.keys if among is None else {rev: key for rev, key in self.keys.items() if rev in among}
        hit = self.cache.deepest(keys, self.depths)
        if hit is None:
            return None
        revision, key = hit
        database = str(url.database)
        copy_key = self._copy_key(key) if self.databases is not None else key  # the archive is read once
        if self.databases is not None and self.databases.copy_into(copy_key, database):
            self.cache.touch(key)
            return revision
        self.cache.restore(key, url, self.bindir)  # one transaction: a failure leaves the database empty
        if self.databases is not None:  # the next run on this server copies it
            self.databases.keep_copy(copy_key, database)
        return revision

    def _copy_key(self, key: str) -> str:
        """A server copy stands in for one archive, this cache's: its name hashes the archive's bytes too.
        Another cache's archive under the same key (a revision that reads a file, another user of a
        shared server) is another database, never copied in place of this one."""
        archive = next((p for p in (self.cache.path(key), self.cache.store_path(key)) if p and p.is_file()), None)
        if archive is None:
            return key
        with archive.open("rb") as f:
            return hashlib.sha256(key.encode() + hashlib.file_digest(f, "sha256").digest()).hexdigest()

    def restore_in_background(self, url: URL) -> PendingRestore | None:
        """Start restoring the deepest cached revision into the empty database `url` in a thread (the
        work is pg_restore's, in a process of its own): None when nothing is cached. Only without
        copies on the server, which are quick and need a connection of driftbot's own."""
        hit = self.cache.deepest(self.keys, self.depths)
        if hit is None or self.databases is not None:
            return None
        return PendingRestore(hit[0], self.cache, hit[1], url, self.bindir)

    def store_heads(self, heads: tuple[str, ...], url: URL) -> PendingStore:
        """Snapshot the database at `url` for its head (one head only: two heads are two chains).

        The server copy is made now (a template: nobody may be connected to it); the archive is
        written in the background (pg_dump, connected to `url` until it is done): nobody may need
        `url` free of connections (as a template, or to drop it) before the store's `wait()`.
        """
        if len(heads) != 1 or heads[0] not in self.keys:
            return PendingStore(())
        key, database = self.keys[heads[0]], str(url.database)
        if self.cache.has(key):
            self.cache.touch(key)
            if self.databases is not None:
                self.databases.keep_copy(self._copy_key(key), database)
            return PendingStore(())
        if self.cache.store_root is None:
            return PendingStore(())
        # the copy's name hashes the archive's bytes, which do not exist yet: it is kept under a name
        # of its own, renamed once the archive is written (dropped if it is not)
        pending = None
        if self.databases is not None:
            pending = f"pending{secrets.token_hex(16)}"
            self.databases.keep_copy(pending, database)
        return PendingStore(heads, lambda: self._archive(key, url, pending))

    def _archive(self, key: str, url: URL, pending_copy: str | None) -> None:
        """Write the archive of `url` under `key`; the copy kept as `pending_copy` then names it."""
        try:
            self.cache.store(key, url, self.bindir)
        except BaseException:
            if self.databases is not None and pending_copy is not None:
                self.databases.drop_copy(pending_copy)
            raise
        if self.databases is not None and pending_copy is not None:
            self.databases.rename_copy(pending_copy, self._copy_key(key))


class PendingStore:
    """The head's archive being written (`work`, in a thread: pg_dump is a process of its own) while
    the run reads the catalogs and compares. Whoever needs the database free of connections (a
    template copy, its drop) and the end of the run wait for `wait()`: the heads stored, or () when
    the store failed (logged once as a warning: a full disk never fails the check)."""

    def __init__(self, heads: tuple[str, ...], work: Callable[[], None] | None = None) -> None:
        self.heads = heads
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if work is not None:
            self._thread = threading.Thread(target=self._run, args=(work,), name="driftbot-store", daemon=True)
            self._thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # any failure (a pg_dump timeout too): kept for wait(), never lost in the thread
            self._error = exc

    def wait(self) -> tuple[str, ...]:
        """The heads stored: () if nothing was, or the store failed."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            log.warning("could not keep a snapshot for later runs: %s", self._error)
            self._error, self.heads = None, ()
        return self.heads


class PendingRestore:
    """An archive being restored while the project's env.py imports its models (seconds each, at 1,000
    tables): the migrations' first connection waits for `wait()`. A failed restore leaves the database
    empty (one transaction): then the migrations run from the start."""

    def __init__(self, revision: str, cache: SnapshotCache, key: str, url: URL, bindir: Path) -> None:
        self.revision = revision
        self.seconds = 0.0
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(cache, key, url, bindir), name="driftbot-restore", daemon=True
        )
        self._thread.start()

    def _run(self, cache: SnapshotCache, key: str, url: URL, bindir: Path) -> None:
        started = time.perf_counter()
        try:
            cache.restore(key, url, bindir)
        except (SnapshotError, OSError) as exc:  # a damaged or foreign archive: the run goes on cold
            self._error = exc
        self.seconds = round(time.perf_counter() - started, 4)

    def wait(self) -> str | None:
        """The revision restored, or None (the error is logged once)."""
        if self._thread.is_alive():
            self._thread.join()
        if self._error is not None:
            log.warning("the cached snapshot could not be restored, running every revision: %s", self._error)
            self._error, self.revision = None, ""
        return self.revision or None
