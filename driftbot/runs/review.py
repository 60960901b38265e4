"""Stage 4b (DESIGN.md §4b): review the pull request's own revisions on a real server.

For each of the PR's revisions (`--since REF|REV`), oldest first:

- **impact**, measured: on a copy of the database just before it, where every table holds a few
  rows (generated to satisfy the constraints, or `--sample-data FILE.sql`), the revision runs in
  its own transaction; before that transaction commits, `pg_locks` of driftbot's own backend says
  which lock each existing table holds; `relfilenode` before/after says which tables were
  rewritten; the SQL the revision executed says which indexes were built without CONCURRENTLY and
  which constraints were added without NOT VALID; a revision that changes rows is a data
  migration, and its downgrade's effect on those rows is measured on the same copy;
- **rollback, proven** (a stairway): on the chain database at the revision's parent, the catalog
  before; upgrade; downgrade exactly this revision; the catalog must be exactly as before; upgrade
  again. The chain then goes on from there to the next revision.

A failing downgrade and a residue are findings (`downgrade_failed`, `downgrade_residue`); the
impact is reported as hazards, each with the safer pattern (failing only with `--fail-on hazard`).
"""

from __future__ import annotations

import ast
import logging
import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql as pgsql
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, Engine

from driftbot.compare.catalog import Catalog, TableKey, read_catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.errors import ConfigError, DriftbotError
from driftbot.postgres.base import scratch_database
from driftbot.project.baseline import apply_baseline
from driftbot.project.migrate import UNDO_PREFIX, upgrade
from driftbot.report.model import (
    DataMigration,
    DowngradeCheck,
    Review,
    ReviewedRevision,
    ReviewHazard,
    TableLock,
    TableRows,
)
from driftbot.runs.scratch import project_snapshots
from driftbot.runs.snapshots import SnapshotError
from driftbot.safety.containment import engine_for
from driftbot.safety.masking import scrub

if TYPE_CHECKING:
    from driftbot.project.locate import Project
    from driftbot.runs.scratch import Scratch
    from driftbot.settings import Settings

log = logging.getLogger(__name__)

SAMPLE_ROWS = 3  # rows generated per table: enough for NOT NULL, UNIQUE and rewrites to show

# PostgreSQL's table lock modes, weakest first (a stronger one conflicts with more)
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
LOCK_BLOCKS = {
    "AccessShareLock": "blocks only ACCESS EXCLUSIVE",
    "RowShareLock": "blocks EXCLUSIVE and ACCESS EXCLUSIVE",
    "RowExclusiveLock": "blocks SHARE and stronger (index builds)",
    "ShareUpdateExclusiveLock": "blocks schema changes and VACUUM, not reads or writes",
    "ShareLock": "blocks writes (INSERT, UPDATE, DELETE), not reads",
    "ShareRowExclusiveLock": "blocks writes, not reads",
    "ExclusiveLock": "blocks writes, not plain reads",
    "AccessExclusiveLock": "blocks reads and writes",
}


# --- which revisions are the PR's -------------------------------------------------------------------

FETCH_HINT = (
    "the base commit is not in this clone (a shallow checkout?): check out with "
    "`actions/checkout` `fetch-depth: 0`, or fetch the base first: `git fetch origin <base sha>`"
)


SINCE_FILES_MAX_BYTES = 16 * 1024 * 1024


def read_since_files(settings: Settings) -> frozenset[Path] | None:
    """`--since-files`: the files changed since `since`, as the caller's git saw them (None: ask git)."""
    if settings.since_files is None:
        return None
    try:
        raw = settings.since_files.read_bytes()[: SINCE_FILES_MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"--since-files {settings.since_files}: cannot read it: {exc.strerror}") from exc
    if len(raw) > SINCE_FILES_MAX_BYTES:
        raise ConfigError(f"--since-files {settings.since_files}: larger than {SINCE_FILES_MAX_BYTES} bytes")
    base = settings.project_dir.resolve()
    names = raw.decode("utf-8", "surrogateescape").split("\0")
    return frozenset((base / name).resolve() for name in names if name)


def select_revisions(
    project: Project, since: str, changed: frozenset[Path] | None = None
) -> tuple[tuple[str, ...], str]:
    """The PR's revisions, oldest first, and how `since` was read ("revision" or "ref").

    `changed`: the files changed since the ref `since`, when the caller knows them (the action's
    trusted side asked git); otherwise git is asked here."""
    by_id = {r.revision: r for r in project.revisions}
    matches = [r for r in by_id if r == since] or [r for r in by_id if len(since) >= 4 and r.startswith(since)]
    if len(matches) == 1:
        after = descendants(project, matches[0])
        return tuple(r.revision for r in project.revisions if r.revision in after), "revision"
    if len(matches) > 1:
        raise ConfigError(f"--since {since}: more than one revision starts with it ({', '.join(matches)})")
    if changed is None:
        changed = changed_files(project.root, since)
    return tuple(r.revision for r in project.revisions if Path(r.file).resolve() in changed), "ref"


def descendants(project: Project, revision: str) -> frozenset[str]:
    children: dict[str, list[str]] = {}
    for r in project.revisions:
        for parent in r.down_revisions:
            children.setdefault(parent, []).append(r.revision)
    found: set[str] = set()
    todo = list(children.get(revision, ()))
    while todo:
        rev = todo.pop()
        if rev not in found:
            found.add(rev)
            todo += children.get(rev, ())
    return frozenset(found)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        raise ConfigError(
            "--since REF needs git, which is not installed here",
            hint="pass --since REVISION (the last revision before the pull request's) instead",
        ) from exc


def changed_files(root: Path, ref: str) -> frozenset[Path]:
    """Files changed since the merge base of `ref` and HEAD: committed, in the working tree, untracked."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ConfigError(
            f"--since {ref}: neither a revision of the project nor a git ref: {root} is not in a git repository",
            hint="pass --since REVISION (the last revision before the pull request's)",
        )
    toplevel = Path(top.stdout.strip())
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise ConfigError(
            f"--since {ref}: neither a revision of the project nor a commit in this clone", hint=FETCH_HINT
        )
    base = _git(root, "merge-base", ref, "HEAD")
    if base.returncode != 0:
        raise ConfigError(f"--since {ref}: {ref} and HEAD have no common history in this clone", hint=FETCH_HINT)
    diff = _git(root, "diff", "--name-only", "--no-renames", base.stdout.strip())
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--full-name")
    if diff.returncode != 0:
        raise ConfigError(f"--since {ref}: git diff failed: {diff.stderr.strip()}")
    names = diff.stdout.splitlines() + (untracked.stdout.splitlines() if untracked.returncode == 0 else [])
    return frozenset((toplevel / name).resolve() for name in names if name)


# --- the stage ------------------------------------------------------------------------------------


def review(settings: Settings, s: Scratch, selection: tuple[tuple[str, ...], str]) -> tuple[Review, list[Finding]]:
    """Review the PR's revisions (`select_revisions`) on `s.server`: the Review and its failing findings."""
    assert settings.since is not None
    selected, mode = selection
    sample = str(settings.sample_data) if settings.sample_data else None
    if not selected:
        what = "no revision file changed since" if mode == "ref" else "no revision comes after"
        return Review(settings.since, mode, sample_data=sample, note=f"{what} {settings.since}"), []
    reviewer = _Reviewer(settings, s)
    done: list[ReviewedRevision] = []
    error = None
    try:
        with ExitStack() as stack:
            chain = stack.enter_context(scratch_database(s.server, "review"))
            reviewer.prepare(chain, selected)
            for rev in selected:
                done.append(reviewer.revision(chain, rev))
    except DriftbotError as exc:
        log.debug("review stopped", exc_info=exc)
        error = scrub(exc.message)
    findings = [f for r in done for f in revision_findings(r, s.project.root)]
    return Review(settings.since, mode, tuple(done), sample, reviewer.note, error), findings


def hazard_findings(result: Review, root: Path | None = None) -> list[Finding]:
    """`--fail-on hazard`: each hazard as a failing finding."""
    return [
        Finding(
            "migration_hazard",
            h.table,
            "high",
            None,
            None,
            detail=f"revision {r.revision} ({relative(r.file, root)}): {h.kind}: {h.message}. Safer: {h.safer}",
            object_type="migrations",
            name=r.revision,
        )
        for r in result.revisions
        for h in r.hazards
    ]


def relative(path: str, root: Path | None) -> str:
    try:
        return str(Path(path).relative_to(root)) if root else path
    except ValueError:
        return path


def revision_findings(r: ReviewedRevision, root: Path | None = None) -> list[Finding]:
    d = r.downgrade
    where = f"revision {r.revision} ({relative(r.file, root)})"
    empty = " Its downgrade() is empty (only `pass`): it undoes nothing." if d.empty else ""
    if d.error is not None:
        return [
            Finding(
                "downgrade_failed",
                f"revision {r.revision}",
                "high",
                migrations=None,
                models=None,
                detail=f"{where}: downgrading it fails: {d.error}.{empty}",
                object_type="migrations",
                name=r.revision,
            )
        ]
    found = []
    for f in d.residue:
        found.append(
            Finding(
                "downgrade_residue",
                f.object,
                "high",
                migrations=f.migrations,
                models=f.models,
                detail=f"{where}: after its upgrade and downgrade, {residue_words(f)} "
                f"(before the upgrade: {f.migrations or '(absent)'}; after the downgrade: {f.models or '(absent)'})."
                + empty
                + (f" Upgrading it again then fails: {d.upgrade_again}" if d.upgrade_again else ""),
                object_type=f.object_type,
                schema=f.schema,
                table=f.table,
                name=f.name,
            )
        )
    if d.upgrade_again and not d.residue:
        found.append(
            Finding(
                "downgrade_residue",
                f"revision {r.revision}",
                "high",
                None,
                None,
                detail=f"{where}: the catalog is as before after its downgrade, but upgrading it "
                f"again fails (something the catalog does not show was left behind: a "
                f"function, a view, a row): {d.upgrade_again}.{empty}",
                object_type="migrations",
                name=r.revision,
            )
        )
    return found


def residue_words(f: Finding) -> str:
    """`f` compares before (migrations side) with after the downgrade (models side)."""
    what = f.object_type.replace("_", " ") or "object"
    if f.kind.endswith("_missing"):
        return f"{what} {f.object} is left behind"
    if f.kind.endswith("_extra"):
        return f"{what} {f.object} is gone (the downgrade dropped what the revision did not create)"
    return f"{what} {f.object} is not as before ({f.kind.replace('_', ' ')})"


def residue(before: Catalog, after: Catalog) -> tuple[Finding, ...]:
    """Every difference, in both directions, whatever its severity: after a downgrade, exactly as before."""
    found = {(f.kind, f.object): f for f in diff_catalogs(before, after)}
    for f in diff_catalogs(after, before):  # the mirror: anything one direction pairs differently
        mirrored = f.kind.replace("_missing", "_@").replace("_extra", "_missing").replace("_@", "_extra")
        found.setdefault(
            (mirrored, f.object),
            Finding(
                mirrored,
                f.object,
                f.severity,
                f.models,
                f.migrations,
                f.detail,
                f.object_type,
                f.schema,
                f.table,
                f.name,
            ),
        )
    for label, b, a in (("schema", before.schemas, after.schemas), ("extension", before.extensions, after.extensions)):
        for item in sorted(set(a) - set(b), key=str):
            name = item if isinstance(item, str) else item[0]
            found[(f"{label}_missing", name)] = Finding(
                f"{label}_missing", name, "high", None, f"{label} {name}", object_type=label
            )
        for item in sorted(set(b) - set(a), key=str):
            name = item if isinstance(item, str) else item[0]
            found[(f"{label}_extra", name)] = Finding(
                f"{label}_extra", name, "high", f"{label} {name}", None, object_type=label
            )
    return tuple(sorted(found.values(), key=lambda f: (f.object, f.kind)))


def downgrade_is_empty(path: str) -> bool:
    """`def downgrade(): pass` (or a docstring, or `...`): it undoes nothing."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "downgrade":
            return all(
                isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
                for stmt in node.body
            )
    return False


@dataclass
class _Reviewer:
    settings: Settings
    s: Scratch
    note: str = ""
    _sample_failed: bool = False

    @property
    def project(self) -> Project:
        return self.s.project

    def migrate(self, url: URL, destination: str, downgrade: bool = False) -> tuple[str | None, float]:
        """Run to `destination` through the project's env.py: the error (None: it worked) and the seconds."""
        run, _ = upgrade(
            self.project,
            self.s.config,
            self.s.script,
            url,
            self.settings.url_env_vars,
            destination,
            downgrade=downgrade,
            step="review",
        )
        seconds = sum(a.seconds for a in run.applied) if run.applied else run.seconds
        return (run.failure.error if run.failure else None), round(seconds, 4)

    def catalog(self, url: URL) -> Catalog:
        with engine_for(url) as engine:
            with engine.connect() as conn:
                return read_catalog(conn, exclude=self.s.exclude)

    def prepare(self, chain: URL, selected: Sequence[str]) -> None:
        """The review's database before the PR: the deepest cached snapshot before its first revision
        (main's head, usually), else the baseline; `to_parents` migrates the rest."""
        snapshots, _ = project_snapshots(self.settings, self.project, self.s.server)
        if snapshots is not None:
            later = {rev for r in selected for rev in (r, *descendants(self.project, r))}
            try:
                restored = snapshots.restore_deepest(chain, among={r.revision for r in self.project.revisions} - later)
            except (SnapshotError, OSError) as exc:
                log.debug("no snapshot for the review: %s", exc)
                restored = None
            if restored is not None:
                self.note = "; ".join(n for n in (self.note, f"started from the cached snapshot at {restored}") if n)
                return
        if self.settings.baseline:
            with engine_for(chain) as engine:
                with engine.begin() as conn:
                    apply_baseline(conn, self.settings.baseline, self.project, chain)

    def to_parents(self, chain: URL, revision: str) -> None:
        parents = next(r.down_revisions for r in self.project.revisions if r.revision == revision)
        for parent in parents:
            error, _ = self.migrate(chain, parent)
            if error:
                raise DriftbotError(f"upgrading the review's database to {parent} failed: {error}")

    def revision(self, chain: URL, rev: str) -> ReviewedRevision:
        file = self.project.file_of(rev)
        self.to_parents(chain, rev)
        impact = self.impact(chain, rev, file)
        before = self.catalog(chain)
        error, _ = self.migrate(chain, rev)
        if error:
            raise DriftbotError(f"revision {rev} ({file}) failed on the review's database: {error}")
        empty = downgrade_is_empty(file)
        error, _ = self.migrate(chain, UNDO_PREFIX + rev, downgrade=True)
        if error:
            check = DowngradeCheck(False, error=error, empty=empty)
        else:
            after = self.catalog(chain)
            left = residue(before, after)
            again, _ = self.migrate(chain, rev)
            check = DowngradeCheck(not left and again is None, left, empty=empty, upgrade_again=again)
        return ReviewedRevision(rev, file, check, **impact)

    # --- impact, on a copy with rows ------------------------------------------------------------

    def impact(self, chain: URL, rev: str, file: str) -> dict[str, Any]:
        assert chain.database is not None
        with scratch_database(self.s.server, "impact", template=chain.database) as copy:
            with engine_for(copy) as engine:
                with engine.begin() as conn:
                    rows = self.seed(conn)
                with engine.connect() as conn:
                    before = relations(conn, self.s.exclude)
                    counts_before = table_rows(conn, before)
            with observed(self.s.options.version_table) as seen:
                error, seconds = self.migrate(copy, rev)
            with engine_for(copy) as engine:
                with engine.connect() as conn:
                    after = relations(conn, self.s.exclude)
                    counts_after = table_rows(conn, after)
            locks = strongest_locks(seen.locks, before)
            rewrites = tuple(
                sorted(
                    before[oid].name
                    for oid, rel in after.items()
                    if oid in before and rel.kind in "rm" and rel.filenode != before[oid].filenode
                )
            )
            default_schema = self.s.default_schema
            hazards = statement_hazards(seen.statements, before, default_schema)
            hazards += [rewrite_hazard(t, seen.statements) for t in rewrites]
            data = None
            changes = [c for c in (row_change(st, default_schema) for st in seen.statements) if c is not None]
            if error is None and changes:
                data = self.data_migration(copy, rev, changes, before, counts_before, counts_after)
                if data.loss:
                    hazards.append(
                        ReviewHazard(
                            "data_loss_on_downgrade",
                            ", ".join(t.table for t in data.tables if t.restored is False),
                            data.loss,
                            "write the downgrade so it restores the rows (keep the old values in a column or "
                            "table until the change is final), or state in the revision that it is one-way",
                        )
                    )
            if error is not None:
                hazards.append(
                    ReviewHazard(
                        "fails_on_existing_rows",
                        ", ".join(sorted({h for h in _tables_in(seen.statements, before, default_schema)})) or "-",
                        f"the revision works on the empty database but fails on one whose tables hold rows: {error}",
                        "give a new NOT NULL column a server_default (or add it nullable, backfill it, then set NOT NULL); "
                        "make data changes work on every row production may hold",
                    )
                )
        return {
            "locks": locks,
            "rewrites": rewrites,
            "hazards": tuple(dict.fromkeys(hazards)),
            "seconds": seconds,
            "data": data,
            "impact_error": error,
            "sample_rows": rows,
        }

    def seed(self, conn: Connection) -> int:
        """Rows in every table: the --sample-data file, else generated ones. How many rows there are."""
        path = self.settings.sample_data
        if path is not None and not self._sample_failed:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(Path(path).read_text(encoding="utf-8"))
            except Exception as exc:
                self._sample_failed = True
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.note = f"--sample-data {path} failed ({scrub(first)}); generated rows were used instead"
            else:
                return total_rows(conn, self.s.exclude)
        generate_rows(conn, self.s.exclude)
        return total_rows(conn, self.s.exclude)

    def data_migration(
        self,
        copy: URL,
        rev: str,
        changes: list[tuple[str, str, int]],
        before: dict[int, Relation],
        counts_before: dict[str, tuple[int, str]],
        counts_after: dict[str, tuple[int, str]],
    ) -> DataMigration:
        """Downgrade the data migration on the copy with rows: are the rows it changed as before?"""
        error, _ = self.migrate(copy, UNDO_PREFIX + rev, downgrade=True)
        counts_down: dict[str, tuple[int, str]] = {}
        if error is None:
            with engine_for(copy) as engine:
                with engine.connect() as conn:
                    counts_down = table_rows(conn, relations(conn, self.s.exclude))
        touched = sorted({table for _, table, _ in changes})
        tables, lost = [], []
        for table in touched:
            b, a = counts_before.get(table), counts_after.get(table)
            d = counts_down.get(table) if error is None else None
            restored = None if b is None or d is None else (b == d)
            tables.append(TableRows(table, b[0] if b else 0, a[0] if a else 0, d[0] if d else None, restored))
            if error is None and b is not None and (d is None or d != b):
                if d is None:
                    lost.append(f"{table} is gone after the downgrade ({b[0]} rows before)")
                elif d[0] < b[0]:
                    lost.append(f"{table}: {b[0]} rows before, {d[0]} after the downgrade ({b[0] - d[0]} lost)")
                elif d[0] > b[0]:
                    lost.append(f"{table}: {b[0]} rows before, {d[0]} after the downgrade ({d[0] - b[0]} left behind)")
                else:
                    lost.append(f"{table}: the same {b[0]} rows, but their values are not restored by the downgrade")
        statements = tuple(
            dict.fromkeys(f"{verb} {table} ({n} row{'s' if n != 1 else ''})" for verb, table, n in changes)
        )
        if error is not None:
            loss = f"the downgrade fails on the rows: {error}"
        else:
            loss = "; ".join(lost)
        return DataMigration(statements, tuple(tables), loss)


# --- what the revision did: statements and locks, seen on the connection env.py uses ---------------


@dataclass
class Seen:
    statements: list[tuple[str, int]] = field(default_factory=list)  # (SQL, rows affected)
    locks: list[tuple[int, str]] = field(default_factory=list)  # (relation oid, mode) held before commit


LOCKS_SQL = (
    "SELECT relation::bigint, mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND granted"
)


@contextmanager
def observed(version_table: str) -> Iterator[Seen]:
    """Every statement project engines execute, and the locks each transaction holds before it commits."""
    seen = Seen()
    version = re.compile(rf"\b{re.escape(version_table)}\b", re.IGNORECASE)

    def before_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not (version.search(statement) and re.match(r"\s*(UPDATE|INSERT|DELETE|CREATE TABLE)", statement, re.I)):
            seen.statements.append((statement, -1))  # a statement that fails is seen too

    def after_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        rowcount = getattr(cursor, "rowcount", -1)
        if seen.statements and seen.statements[-1][0] == statement and isinstance(rowcount, int):
            seen.statements[-1] = (statement, rowcount)

    def before_commit(conn: Any) -> None:
        try:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(LOCKS_SQL)
                seen.locks += [(int(oid), str(mode)) for oid, mode in cursor.fetchall()]
            finally:
                cursor.close()
        except Exception as exc:  # never break the project's migration for a measurement
            log.debug("reading pg_locks before commit failed: %s", exc)

    event.listen(Engine, "before_cursor_execute", before_execute)
    event.listen(Engine, "after_cursor_execute", after_execute)
    event.listen(Engine, "commit", before_commit)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before_execute)
        event.remove(Engine, "after_cursor_execute", after_execute)
        event.remove(Engine, "commit", before_commit)


@dataclass(frozen=True)
class Relation:
    name: str  # schema.name
    kind: str  # relkind
    filenode: int


RELATIONS_SQL = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
"""


def relations(conn: Connection, exclude: frozenset[TableKey] = frozenset()) -> dict[int, Relation]:
    """The tables (and materialized views) of the database, but the version table."""
    return {
        int(oid): Relation(f"{schema}.{name}", kind, int(node))
        for oid, schema, name, kind, node in conn.execute(text(RELATIONS_SQL))
        if (schema, name) not in exclude
    }


def table_rows(conn: Connection, rels: dict[int, Relation]) -> dict[str, tuple[int, str]]:
    """Per table: its row count and a digest of its rows (to tell "restored" from "changed")."""
    found = {}
    for rel in rels.values():
        if rel.kind not in "rp":
            continue
        schema, name = rel.name.split(".", 1)
        ident = pgsql.Identifier(schema, name).as_string(None)
        count, digest = conn.execute(
            text(f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {ident} t")
        ).one()
        found[rel.name] = (int(count), str(digest))
    return found


def total_rows(conn: Connection, exclude: frozenset[TableKey]) -> int:
    return sum(count for count, _ in table_rows(conn, relations(conn, exclude)).values())


def strongest_locks(held: Sequence[tuple[int, str]], before: dict[int, Relation]) -> tuple[TableLock, ...]:
    """Per table that existed before the revision: the strongest mode its transactions held."""
    best: dict[str, str] = {}
    for oid, mode in held:
        rel = before.get(oid)
        if rel is None or mode not in LOCK_MODES:
            continue
        if rel.name not in best or LOCK_MODES.index(mode) > LOCK_MODES.index(best[rel.name]):
            best[rel.name] = mode
    return tuple(TableLock(t, m) for t, m in sorted(best.items()))


# --- reading the executed SQL (pglast: PostgreSQL's own parser) ------------------------------------

_PARAM = re.compile(r"%\(\w+\)s|%s")


def _parse(statement: str) -> list[Any]:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        return [raw.stmt for raw in parse_sql(_PARAM.sub("NULL", statement).replace("%%", "%"))]
    except ParseError:
        return []


def _qualified(rangevar: Any, default_schema: str) -> str:
    return f"{rangevar.schemaname or default_schema}.{rangevar.relname}"


def _existing(rangevar: Any, before: dict[int, Relation], default_schema: str) -> str | None:
    name = _qualified(rangevar, default_schema)
    return name if any(r.name == name for r in before.values()) else None


def _tables_in(statements: Sequence[tuple[str, int]], before: dict[int, Relation], default_schema: str) -> set[str]:
    found = set()
    for statement, _ in statements:
        for node in _parse(statement):
            rangevar = getattr(node, "relation", None)
            if rangevar is not None and hasattr(rangevar, "relname"):
                name = _existing(rangevar, before, default_schema)
                if name:
                    found.add(name)
    return found


SAFER_INDEX = (
    "build it without blocking writes: `with op.get_context().autocommit_block(): "
    "op.create_index(..., postgresql_concurrently=True)` (CREATE INDEX CONCURRENTLY cannot run in a "
    "transaction)"
)
SAFER_UNIQUE = (
    "build the index first without blocking writes (`CREATE UNIQUE INDEX CONCURRENTLY` in an "
    "`autocommit_block`), then `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...`"
)
SAFER_CONSTRAINT = (
    'add it as `NOT VALID` (`op.execute("ALTER TABLE ... ADD CONSTRAINT ... NOT VALID")`), then '
    "`ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later transaction: validating takes only a "
    "SHARE UPDATE EXCLUSIVE lock"
)
SAFER_NOT_NULL = (
    "add `CHECK (column IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it in a later transaction, "
    "then SET NOT NULL (PostgreSQL 12+ uses the valid check instead of scanning) and drop the check"
)


def statement_hazards(
    statements: Sequence[tuple[str, int]], before: dict[int, Relation], default_schema: str
) -> list[ReviewHazard]:
    from pglast import ast as pg

    hazards: list[ReviewHazard] = []
    for statement, _ in statements:
        for node in _parse(statement):
            if isinstance(node, pg.IndexStmt) and not node.concurrent:
                table = _existing(node.relation, before, default_schema)
                if table:
                    hazards.append(
                        ReviewHazard(
                            "index_without_concurrently",
                            table,
                            f"CREATE {'UNIQUE ' if node.unique else ''}INDEX {node.idxname or ''} on existing table "
                            f"{table} without CONCURRENTLY: it holds a SHARE lock (blocks writes) for the whole build",
                            SAFER_INDEX,
                        )
                    )
            if not isinstance(node, pg.AlterTableStmt):
                continue
            table = _existing(node.relation, before, default_schema)
            if table:
                hazards += [h for cmd in node.cmds or () for h in _alter_table_hazards(cmd, table)]
    return hazards


def _alter_table_hazards(cmd: Any, table: str) -> list[ReviewHazard]:
    """What one ALTER TABLE subcommand on an existing table holds its lock for."""
    from pglast import ast as pg
    from pglast.enums import AlterTableType, ConstrType

    hazards: list[ReviewHazard] = []
    if cmd.subtype == AlterTableType.AT_SetNotNull:
        hazards.append(
            ReviewHazard(
                "not_null_validated",
                table,
                f"SET NOT NULL on {table}.{cmd.name} scans every row under an ACCESS EXCLUSIVE lock",
                SAFER_NOT_NULL,
            )
        )
    constraint = cmd.def_ if cmd.subtype == AlterTableType.AT_AddConstraint else None
    if constraint is None or not isinstance(constraint, pg.Constraint):
        return hazards
    name = constraint.conname or ""
    if constraint.contype in (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_FOREIGN) and not constraint.skip_validation:
        what = "CHECK" if constraint.contype == ConstrType.CONSTR_CHECK else "FOREIGN KEY"
        lock = "ACCESS EXCLUSIVE" if what == "CHECK" else "SHARE ROW EXCLUSIVE (on both tables)"
        hazards.append(
            ReviewHazard(
                "constraint_validated",
                table,
                f"{what} constraint {name} added to {table} without NOT VALID: every row is checked "
                f"while it holds {lock}",
                SAFER_CONSTRAINT,
            )
        )
    elif constraint.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) and not constraint.indexname:
        what = "UNIQUE" if constraint.contype == ConstrType.CONSTR_UNIQUE else "PRIMARY KEY"
        hazards.append(
            ReviewHazard(
                "index_without_concurrently",
                table,
                f"{what} constraint {name} added to {table} builds its index under an ACCESS EXCLUSIVE lock",
                SAFER_UNIQUE,
            )
        )
    return hazards


def rewrite_hazard(table: str, statements: Sequence[tuple[str, int]]) -> ReviewHazard:
    alter_type = any(re.search(r"\bALTER\s+(COLUMN\s+)?\S+\s+(SET\s+DATA\s+)?TYPE\b", s, re.I) for s, _ in statements)
    safer = (
        "avoid the rewrite: add a new column of the new type, backfill it in batches, switch reads and writes "
        "to it, and drop the old one in a later release (widening varchar(n), or varchar to text, needs no "
        "rewrite)"
        if alter_type
        else "avoid the rewrite: add the column without a volatile default (or nullable) and backfill it in batches"
    )
    return ReviewHazard(
        "table_rewrite",
        table,
        f"{table} was rewritten (a new relfilenode): every row is copied while ACCESS EXCLUSIVE "
        "blocks reads and writes, for a time that grows with the table",
        safer,
    )


def row_change(statement: tuple[str, int], default_schema: str) -> tuple[str, str, int] | None:
    """("UPDATE", "public.orders", rows) for a statement that changes rows, else None."""
    from pglast import ast as pg

    sql, rows = statement
    for node in _parse(sql):
        for cls, verb in ((pg.InsertStmt, "INSERT INTO"), (pg.UpdateStmt, "UPDATE"), (pg.DeleteStmt, "DELETE FROM")):
            if isinstance(node, cls):
                return verb, _qualified(node.relation, default_schema), rows
    match = re.match(r"\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([\w.\"]+)", sql, re.I)
    if match:
        name = match.group(2).replace('"', "")
        verb = " ".join(match.group(1).upper().split())
        return verb, name if "." in name else f"{default_schema}.{name}", rows
    return None


# --- generated rows -----------------------------------------------------------------------------

COLUMNS_SQL = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory::text,
       t.typname, a.attnotnull, a.attidentity::text, a.attgenerated::text,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default,
       coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = a.atttypid), '{}') AS labels,
       et.typcategory::text AS elemcat
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_t%'
ORDER BY n.nspname, c.relname, a.attnum
"""
FKS_SQL = """
SELECT n.nspname, c.relname, rn.nspname, r.relname,
       (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(num, i)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num),
       (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(num, i)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class r ON r.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE con.contype = 'f'
"""


@dataclass(frozen=True)
class _Col:
    name: str
    type: str
    category: str
    typname: str
    not_null: bool
    identity: str
    generated: str
    default: str
    labels: tuple[str, ...]
    elemcat: str | None


def generate_rows(conn: Connection, exclude: frozenset[TableKey] = frozenset(), per_table: int = SAMPLE_ROWS) -> None:
    """A few rows in every table that has none, parents before children; a row PostgreSQL refuses is skipped."""
    columns: dict[TableKey, list[_Col]] = {}
    for r in conn.execute(text(COLUMNS_SQL)):
        if (r[0], r[1]) in exclude:
            continue
        columns.setdefault((r[0], r[1]), []).append(
            _Col(r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], tuple(r[10]), r[11])
        )
    fks: dict[TableKey, list[tuple[TableKey, list[str], list[str]]]] = {}
    for schema, table, rschema, rtable, cols, rcols in conn.execute(text(FKS_SQL)):
        fks.setdefault((schema, table), []).append(((rschema, rtable), list(cols), list(rcols)))
    for key in dependency_order(columns, fks):
        ident = pgsql.Identifier(*key).as_string(None)
        if conn.execute(text(f"SELECT EXISTS (SELECT FROM {ident})")).scalar():
            continue
        fk_of = {col: (parent, rcols[i]) for parent, cols, rcols in fks.get(key, []) for i, col in enumerate(cols)}
        for i in range(1, per_table + 1):
            for careful in (False, True):  # the second try leaves nullable columns NULL
                names, values = [], []
                for col in columns[key]:
                    if col.generated or col.identity == "a":
                        continue
                    if col.name in fk_of:
                        parent, rcol = fk_of[col.name]
                        if parent == key and not col.not_null:
                            continue
                        pident = pgsql.Identifier(*parent).as_string(None)
                        rident = pgsql.Identifier(rcol).as_string(None)
                        values.append(
                            f"(SELECT {rident} FROM {pident} ORDER BY {rident} "
                            f"OFFSET {(i - 1)} % greatest((SELECT count(*) FROM {pident}), 1) LIMIT 1)"
                        )
                        names.append(pgsql.Identifier(col.name).as_string(None))
                        continue
                    if col.identity or "nextval(" in col.default or (careful and (col.default or not col.not_null)):
                        continue  # its default: serial and identity columns (and, carefully, every default)
                    value = sample_value(col, i)
                    if value is None:
                        if col.not_null and not col.default:
                            break
                        continue
                    names.append(pgsql.Identifier(col.name).as_string(None))
                    values.append(value)
                else:
                    statement = (
                        f"INSERT INTO {ident} ({', '.join(names)}) VALUES ({', '.join(values)})"
                        if names
                        else f"INSERT INTO {ident} DEFAULT VALUES"
                    )
                    try:
                        with conn.begin_nested():
                            conn.exec_driver_sql(statement.replace("%", "%%"))
                        break
                    except Exception as exc:
                        log.debug("sample row for %s refused: %s", ident, str(exc).splitlines()[0])


def dependency_order(
    columns: dict[TableKey, list[_Col]], fks: dict[TableKey, list[tuple[TableKey, list[str], list[str]]]]
) -> list[TableKey]:
    order: list[TableKey] = []
    visiting: set[TableKey] = set()

    def visit(key: TableKey) -> None:
        if key in order or key in visiting or key not in columns:
            return
        visiting.add(key)
        for parent, _, _ in fks.get(key, []):
            if parent != key:
                visit(parent)
        visiting.discard(key)
        order.append(key)

    for key in sorted(columns):
        visit(key)
    return order


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sample_value(col: _Col, i: int) -> str | None:
    """A SQL expression of the column's type for row `i` (1, 2, 3): distinct per row, positive, short."""
    cast = f"::{col.type}"
    cat = col.category
    if col.labels:
        return _literal(col.labels[(i - 1) % len(col.labels)]) + cast
    if col.typname == "uuid":
        return _literal(f"00000000-0000-4000-8000-{i:012d}") + cast
    if col.typname in ("json", "jsonb"):
        return _literal(f'{{"sample": {i}}}') + cast
    if col.typname in ("time", "timetz"):
        return _literal(f"10:00:0{i % 10}") + cast
    if col.typname == "bytea":
        return _literal(f"\\x{i:02x}") + cast
    if cat == "N":
        return _literal(str(i)) + cast
    if cat == "S":
        return _literal(f"{i}-sample") + cast
    if cat == "B":
        return ("true" if i % 2 else "false") + cast
    if cat == "D":
        return _literal(f"2024-01-0{min(i, 9)} 10:00:00") + cast
    if cat == "T":
        return _literal(f"{i} days") + cast
    if cat == "I":
        return _literal(f"10.0.0.{i}") + cast
    if cat == "V":
        return None
    if cat == "A":
        return _literal("{}") + cast
    return None
