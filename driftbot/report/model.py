"""The Report: one typed value for a whole run, and its JSON form (schema/report.schema.json)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import dacite

from driftbot import __version__
from driftbot.compare.findings import Finding
from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT, EXIT_UNCHECKABLE
from driftbot.project.migrate import AppliedRevision, MigrationRun
from driftbot.safety.containment import Redirect
from driftbot.suggest.generate import Suggestion

SCHEMA_VERSION = 1
Status = Literal["clean", "drift", "error"]


@dataclass(frozen=True)
class ProjectInfo:
    root: str
    config_file: str
    script_location: str
    heads: tuple[str, ...]
    head_files: tuple[str, ...]


@dataclass(frozen=True)
class PostgresInfo:
    provider: str
    version: str


@dataclass(frozen=True)
class ErrorInfo:
    stage: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class SyncResult:
    """`driftbot sync`: what was applied to the development database and what still differs."""

    database: str  # password masked
    applied: tuple[AppliedRevision, ...]
    remaining: tuple[Finding, ...]


RevisionState = Literal["up_to_date", "behind", "unknown_revision"]


@dataclass(frozen=True)
class PendingRevision:
    revision: str
    message: str
    file: str


@dataclass(frozen=True)
class UndoInfo:
    """`--fix-to migrations`: the SQL that brings the live database back to what its migrations build,
    converged on a scratch copy of its schema (never applied to it)."""

    path: str | None  # the file written (None: nothing to undo, or it failed)
    statements: tuple[str, ...]
    remaining: tuple[str, ...]  # "kind object" still different on the copy afterwards
    error: str | None = None


@dataclass(frozen=True)
class LiveInfo:
    """`detect` and `status`: the live database (password masked) and its Alembic revision."""

    database: str
    server_version: str
    version_table: str  # schema.table
    current: tuple[str, ...]  # the version table's rows; empty: never stamped
    heads: tuple[str, ...]
    state: RevisionState
    pending: tuple[PendingRevision, ...]  # what `alembic upgrade heads` would run, oldest first
    unknown: tuple[str, ...]  # revisions in the version table that the project does not have
    compared: bool  # the catalogs were compared (`detect`); False: only the version was read (`status`)
    read_seconds: float  # the read-only transaction on the live database
    statement_timeout: float
    lock_timeout: float
    fix_error: str | None = None  # `--fix`: why no migration could be made on a copy of the live schema
    undo: UndoInfo | None = None  # `--fix-to migrations`
    fix_to: str | None = None  # `--fix`: models, migrations or live (the suggestion adopts its changes)
    schema: str | None = None  # `detect --schemas`: the tenant schema compared with the migrations' own


@dataclass(frozen=True)
class LiveDatabase:
    """`detect` of several live databases (or tenant schemas): one of them, and its own report."""

    database: str  # password masked
    schema: str | None  # the tenant schema (`--schemas`), else None
    report: Report


@dataclass(frozen=True)
class CacheInfo:
    """What the run took from the cache and gave to it (the report's `cache`)."""

    restored: str | None = None  # the revision the migrations' database was restored at
    stored: tuple[str, ...] = ()  # the heads snapshotted for later runs
    note: str = ""  # why the cache was not used, if it wasn't
    models: str = ""  # how the models' database was built from a kept one, if it was (runs/models_copies.py)


# --- `--since`: the review of the PR's own revisions (runs/review.py) --------------------------------


@dataclass(frozen=True)
class TableLock:
    table: str  # schema.table
    mode: str  # the strongest mode the revision's transaction held on it, e.g. AccessExclusiveLock


@dataclass(frozen=True)
class ReviewHazard:
    kind: str  # table_rewrite, index_without_concurrently, constraint_validated, not_null_validated, ...
    table: str
    message: str  # what was measured
    safer: str  # the safer pattern


@dataclass(frozen=True)
class DowngradeCheck:
    passed: bool
    residue: tuple[Finding, ...] = ()  # what differs after upgrade + downgrade (before vs after)
    error: str | None = None  # the downgrade failed: the database error
    empty: bool = False  # downgrade() is empty or only `pass`
    upgrade_again: str | None = None  # upgrading again after the downgrade failed: the error


@dataclass(frozen=True)
class TableRows:
    table: str
    before: int  # rows before the upgrade
    after_upgrade: int
    after_downgrade: int | None  # None: the downgrade failed
    restored: bool | None  # the rows' content after the downgrade equals before (None: not comparable)


@dataclass(frozen=True)
class DataMigration:
    statements: tuple[str, ...]  # the row-changing statements, e.g. "UPDATE public.orders (3 rows)"
    tables: tuple[TableRows, ...]
    loss: str  # "" when the downgrade restores the rows; otherwise what it loses


@dataclass(frozen=True)
class ReviewedRevision:
    revision: str
    file: str
    downgrade: DowngradeCheck
    locks: tuple[TableLock, ...] = ()
    rewrites: tuple[str, ...] = ()
    hazards: tuple[ReviewHazard, ...] = ()
    seconds: float = 0.0  # the revision's wall time on the copy with rows
    data: DataMigration | None = None
    impact_error: str | None = None  # the revision failed on the copy with rows (it passed on the empty one)
    sample_rows: int = 0  # rows the copy held before the revision


@dataclass(frozen=True)
class Review:
    since: str
    mode: str  # "ref": the revisions whose files changed since a git ref; "revision": those after one
    revisions: tuple[ReviewedRevision, ...] = ()
    sample_data: str | None = None  # the --sample-data file, if one was used
    note: str = ""  # why fewer revisions were reviewed than selected, or how rows were made
    error: str | None = None  # the review could not finish: why

    @property
    def hazards(self) -> tuple[ReviewHazard, ...]:
        return tuple(h for r in self.revisions for h in r.hazards)

    @property
    def clean(self) -> bool:
        return self.error is None and all(
            r.downgrade.passed and not r.hazards and r.impact_error is None for r in self.revisions
        )


@dataclass(frozen=True)
class Report:
    status: Status
    exit_code: int
    project: ProjectInfo | None
    postgres: PostgresInfo | None
    migrations: MigrationRun | None
    findings: tuple[Finding, ...]
    timings: dict[str, float] = field(default_factory=dict)
    error: ErrorInfo | None = None
    suggestion: Suggestion | None = None
    sync: SyncResult | None = None
    live: LiveInfo | None = None
    # connections project code asked to make elsewhere, which went to the scratch database instead
    redirects: tuple[Redirect, ...] = ()
    cache: CacheInfo | None = None  # the snapshot the migrations started from, and those kept
    review: Review | None = None  # `--since`: the PR's own revisions, rolled back and measured (review.py)
    # `detect` of several databases: each one's report; this one holds the shared stages and the worst outcome
    databases: tuple[LiveDatabase, ...] = ()
    driftbot_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    @property
    def drift(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_drift)

    def findings_by_table(self) -> list[tuple[str, list[Finding]]]:
        """Findings grouped by `schema.table` (or by the object itself), in report order."""
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            key = f"{f.schema}.{f.table}" if f.schema and f.table else f.object
            groups.setdefault(key, []).append(f)
        return list(groups.items())


def outcome(
    findings: tuple[Finding, ...],
    error: ErrorInfo | None,
    error_exit_code: int = EXIT_UNCHECKABLE,
    synced: bool = False,
) -> tuple[Status, int]:
    """`synced`: `driftbot sync` brought the development database to the models."""
    if error is not None:
        return "error", error_exit_code
    if any(f.kind == "multiple_heads" for f in findings):
        return "error", EXIT_UNCHECKABLE
    if any(f.is_drift for f in findings) and not synced:
        return "drift", EXIT_DRIFT
    return "clean", EXIT_CLEAN


def to_dict(report: Report) -> dict[str, Any]:
    return dataclasses.asdict(report)


def from_dict(data: dict[str, Any]) -> Report:
    """The Report a JSON report describes (from a worker, or an artifact: validate it first)."""
    return dacite.from_dict(Report, data, config=dacite.Config(cast=[tuple], strict=True))


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=False) + "\n"
