"""`driftbot detect` and `driftbot status`: a live database against the migrations and the models.

The story of `detect`: connect to the live database once to fail fast; build, in scratch, the
migrations at the heads (M) and the models (O) exactly as `check` does, and, when the live
database is behind, the migrations at its recorded revision (R); read the live catalog (L) in
one read-only transaction; then classify every difference:

- *changed outside migrations*: L differs from R (from M when it is up to date), i.e. from what
  the migrations build at the revision the live database says it is at;
- *pending migration*: R differs from M and L is still as R (the migrations have it, the live
  database does not, and its `alembic_version` is behind);
- *models ahead of migrations*: M differs from O, as in `check`.

Every finding carries the three definitions: `live`, `migrations` (at the heads), `models`.
With `--fix`, a schema-only copy of the live database is upgraded to the heads in scratch and
the migration that brings it to the models is generated and verified there (suggest.py). It is
never applied to the live database.

The report is an ordinary Report with a `live` section, so whatever publishes reports (a
scheduled GitHub issue, later) takes it as it is.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, chdir
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from driftbot.compare.catalog import Catalog, Column
from driftbot.compare.diff import column_definition, diff_catalogs, enum_definition, serial_identity, table_definition
from driftbot.compare.findings import Classification, Finding
from driftbot.compare.ignore import apply_ignore_rules
from driftbot.compare.kinds import KINDS, OBJECT_TYPES
from driftbot.compare.objects import object_schemas, scoped
from driftbot.compare.settle import Settle, settle_at, unsettled
from driftbot.errors import ConfigError, DriftbotError, ProjectError
from driftbot.postgres import scratch_database
from driftbot.postgres.base import ScratchRole, connect_admin, scratch_role
from driftbot.project.baseline import apply_baseline
from driftbot.project.hooks import apply_project_hooks
from driftbot.project.locate import Project, describe_exception, load_project
from driftbot.project.migrate import pointed_at, raise_for_failure, upgrade
from driftbot.project.projectlog import project_logging
from driftbot.project.sources import locate_sources, with_source
from driftbot.report.model import LiveInfo, PendingRevision, Report, RevisionState, UndoInfo
from driftbot.runs.adopt import live_adopt
from driftbot.runs.check import write_suggestion
from driftbot.runs.live import (
    DEFAULT_VERSION_TABLE,
    LiveSnapshot,
    LiveTarget,
    SchemaDump,
    dump_schema,
    probe,
    read_live,
    restore_schema,
)
from driftbot.runs.record import RunRecord
from driftbot.runs.scratch import Scratch, absolute_paths, build_scratch, open_project, project_import_scope
from driftbot.safety.containment import contained, engine_for, hidden_from_project
from driftbot.safety.masking import register_url
from driftbot.safety.secure import secrets_removed
from driftbot.settings import Settings
from driftbot.suggest.fixops import Hazard
from driftbot.suggest.generate import Suggestion, Workspace, read, suggest
from driftbot.suggest.undo import converge
from driftbot.suggest.undo import script as undo_script

log = logging.getLogger(__name__)


class UnknownRevision(ProjectError):
    """The live database records a revision the project does not have: exit 3."""

    stage = "live"


# --- the run ---------------------------------------------------------------------------------------


def finish_live_run(run: RunRecord, body: Callable[[], None]) -> Report:
    """Run a live stage and return its report; a database at a revision the project lacks is an error."""
    error = run.execute(body)
    if error is None and run.live is not None and run.live.state == "unknown_revision":
        error = _unknown_revision(run.live)
    return run.report(error)


FixTo = Literal["models", "migrations", "live"]


def run_detect(settings: Settings, target: LiveTarget, fix: bool = False, fix_to: FixTo = "models") -> Report:
    """`fix_to`: with `fix`, the migration that brings the live database to the models (a revision),
    the SQL that brings it back to what its migrations build (undo the hand changes), or the
    revision that makes the migrations build what it has (adopt them: runs/adopt.py)."""
    run = RunRecord()
    return finish_live_run(run, lambda: _detect(absolute_paths(settings), target, fix, run, fix_to))


def run_status(settings: Settings, target: LiveTarget, version_table: str | None = None) -> Report:
    run = RunRecord()
    return finish_live_run(run, lambda: _status(absolute_paths(settings), target, version_table, run))


# --- detect ----------------------------------------------------------------------------------------


def _detect(settings: Settings, target: LiveTarget, fix: bool, run: RunRecord, fix_to: FixTo = "models") -> None:
    register_url(target.url.value)
    with hidden_from_project(target.url.value), project_import_scope(settings.cache), ExitStack() as stack:
        with run.stage("live"):
            probe(target)  # an unreachable database fails now, before any scratch work
        s = build_scratch(settings, open_project(settings, run, stack), run, stack)
        with run.stage("live"):
            snapshot = read_live(target, (s.options.version_table_schema, s.options.version_table))
        compare_live(settings, target, snapshot, s, run, stack, fix=fix, fix_to=fix_to)


def compare_live(
    settings: Settings,
    target: LiveTarget,
    snapshot: LiveSnapshot,
    s: Scratch,
    run: RunRecord,
    stack: ExitStack,
    fix: bool = False,
    fix_to: FixTo = "models",
) -> None:
    """One live database's snapshot against the scratch side (M, O), which is built once and may
    serve several live databases (detect_many.py)."""
    run.live = live_info(target, snapshot, s.project, s.script, compared=True)
    at_revision = None
    if run.live.state == "behind":
        with run.stage("revision"):
            at_revision = _migrations_at(settings, s, run.live.current, stack)
    assert snapshot.catalog is not None
    live_catalog = _scoped(snapshot.catalog, _schemas_in_scope(s, snapshot))
    with run.stage("diff"):
        classified = classify(live_catalog, at_revision, s.heads, s.models, settle_at(s.m_url))
        findings = _filtered(
            classified + [replace(f, classification="models_ahead_of_migrations") for f in s.rejected], s, settings
        )
        if run.live.pending:
            run.findings.append(pending_finding(run.live))
        run.findings += findings
    if fix:
        run.live = replace(run.live, fix_to=fix_to)
    if fix and fix_to == "migrations":
        if any(f.is_drift and f.classification == "changed_outside_migrations" for f in run.findings):
            with run.stage("fix"):
                run.live = replace(
                    run.live, undo=_live_undo(settings, target, snapshot, s, at_revision or s.heads, stack)
                )
    elif fix and fix_to == "live":
        if any(f.is_drift and f.classification == "changed_outside_migrations" for f in run.findings):
            with run.stage("fix"):
                run.suggestion, fix_error = _adopt_live(settings, s, live_catalog, snapshot, stack, run.live)
            if fix_error:
                run.live = replace(run.live, fix_error=fix_error)
    elif fix and any(f.is_drift for f in run.findings):
        with run.stage("fix"):
            run.suggestion, fix_error = _live_fix(
                settings,
                target,
                snapshot,
                s,
                {f.object for f in run.findings if f.classification == "changed_outside_migrations"},
                stack,
            )
        if fix_error:
            run.live = replace(run.live, fix_error=fix_error)


def _adopt_live(
    settings: Settings, s: Scratch, live: Catalog, snapshot: LiveSnapshot, stack: ExitStack, info: LiveInfo
) -> tuple[Suggestion | None, str | None]:
    if info.state != "up_to_date":  # the revision goes after the heads: the live database must be there
        return None, (
            "--fix-to live adopts changes on top of the heads, and the live database is at "
            f"{', '.join(info.current) or 'no revision'}: run `alembic upgrade heads` first"
        )
    scope = _schemas_in_scope(s, snapshot)
    return live_adopt(settings, s, live, lambda c: _scoped(c, scope), stack)


def _baseline(url: URL, baseline: str, project: Project) -> None:
    with engine_for(url) as engine:
        with engine.begin() as conn:
            apply_baseline(conn, baseline, project, url)


def _migrations_at(settings: Settings, s: Scratch, revisions: tuple[str, ...], stack: ExitStack) -> Catalog:
    """Database R: what the migrations build at the live database's recorded revision(s)."""
    url = stack.enter_context(scratch_database(s.server, "r"))
    if settings.baseline:
        _baseline(url, settings.baseline, s.project)
    for revision in revisions:  # more than one: the live database is at several branch heads
        migrations, _ = upgrade(s.project, s.config, s.script, url, settings.url_env_vars, revision, step="revision")
        raise_for_failure(migrations, s.project)
    return read(url, s.exclude)


def _schemas_in_scope(s: Scratch, snapshot: LiveSnapshot) -> frozenset[str] | None:
    """Like Alembic: only the schemas the project knows, unless env.py sets include_schemas."""
    if s.options.include_schemas:
        return None
    known = {key[0] for c in (s.heads, s.models) for key in (*c.tables, *c.enums, *c.sequences)}
    known |= object_schemas(s.heads.objects)  # a schema of views or functions only is the project's too
    return frozenset(known | {s.default_schema, snapshot.facts.default_schema})


def _scoped(catalog: Catalog, schemas: frozenset[str] | None) -> Catalog:
    if schemas is None:
        return catalog
    return replace(
        catalog,
        tables={k: v for k, v in catalog.tables.items() if k[0] in schemas},
        enums={k: v for k, v in catalog.enums.items() if k[0] in schemas},
        sequences={k: v for k, v in catalog.sequences.items() if k[0] in schemas},
        objects=scoped(catalog.objects, schemas),
    )


def _filtered(findings: list[Finding], s: Scratch, settings: Settings) -> list[Finding]:
    """The project's include hooks, driftbot's ignore rules, the models' source lines."""
    kept = apply_ignore_rules(apply_project_hooks(findings, s.options, s.metadatas, s.default_schema), settings.ignore)
    tables = {(f.schema, f.table) for f in kept if f.schema and f.table and f.models is not None}
    sources = locate_sources(s.metadatas, s.default_schema, tables)
    return [with_source(f, sources) for f in kept]


# --- classification: pure functions of four catalogs -------------------------------------------------


def aspect(kind: str) -> str:
    """What a finding is about, whatever the direction: column_default_added -> column_default (kinds.py)."""
    return KINDS[kind].aspect if kind in KINDS else kind


def _key(f: Finding) -> tuple[str, str]:
    return f.object, aspect(f.kind)


_COLUMN_VALUES: dict[str, Callable[[Column], str | None]] = {
    "column": column_definition,
    "column_type": lambda c: c.type,
    "column_nullable": lambda c: "NULL" if c.nullable else "NOT NULL",
    "column_identity": lambda c: c.identity or serial_identity(c),
    "column_generated": lambda c: c.generated,
    "column_comment": lambda c: c.comment,
    "column_collation": lambda c: c.collation,
    "column_default": lambda c: c.default,
}


def value_of(catalog: Catalog, f: Finding) -> str | None:
    """What `catalog` has for the object and aspect of `f`, rendered as diff.py renders it."""
    kind = aspect(f.kind)
    if f.object_type in OBJECT_TYPES:
        obj = catalog.objects.get(f.object_type, {}).get(f.object)
        return obj.definition if obj is not None else None
    if f.object_type == "enum":
        return enum_definition(catalog.enums.get((f.schema or "", f.name or "")))
    if f.object_type == "sequence":
        sequence = catalog.sequences.get((f.schema or "", f.name or ""))
        return sequence.definition if sequence else None
    table = catalog.tables.get((f.schema or "", f.table or ""))
    if table is None or kind in ("model_rejected", "multiple_heads"):
        return None
    if kind == "table":
        return table_definition(table)
    if kind == "table_comment":
        return table.comment
    if f.object_type == "column":
        column = table.columns.get(f.name or "")
        return None if column is None else _COLUMN_VALUES.get(kind, column_definition)(column)
    named: dict[str, Any] = dict(table.indexes if f.object_type == "index" else table.constraints)
    if f.kind.endswith("_renamed"):  # the two sides of a rename are names
        return next((n for n in (f.name, f.migrations) if n is not None and n in named), None)
    obj = named.get(f.name or "")
    return obj.definition if obj is not None else None


def classify(
    live: Catalog, at_revision: Catalog | None, heads: Catalog, models: Catalog, settle: Settle = unsettled
) -> list[Finding]:
    """Every difference between the live database, the migrations and the models, classified.

    `at_revision`: what the migrations build at the live database's recorded revision; None when
    that is the heads (or unknown: then everything live has that the heads don't build is
    outside the migrations). Each finding's `live`, `migrations` (heads) and `models` are the
    three definitions of its object. `settle` asks a scratch database about constant defaults
    (settle.py); never the live database.
    """
    recorded = at_revision if at_revision is not None else heads
    # live and migrations: every kind of object; migrations and models: what models can declare
    outside = settle(diff_catalogs(live, recorded, every_kind=True), live, recorded)
    pending = (
        settle(diff_catalogs(recorded, heads, every_kind=True), recorded, heads) if at_revision is not None else []
    )
    ahead = settle(diff_catalogs(heads, models), heads, models)
    found: list[Finding] = []
    for f in outside:
        at_heads = value_of(heads, f) if at_revision is not None else f.models
        detail = f.detail
        if at_revision is not None and at_heads != f.models:
            detail = _join(detail, f"at the recorded revision the migrations build: {_side(f.models)}")
        found.append(
            _three(
                f,
                "changed_outside_migrations",
                live=f.migrations,
                migrations=at_heads,
                models=value_of(models, f),
                detail=detail,
            )
        )
    seen = {_key(f) for f in outside}  # live already differs there: reported once, as outside
    for f in pending:
        if _key(f) not in seen:
            found.append(
                _three(
                    f,
                    "pending_migration",
                    live=f.migrations,
                    migrations=f.models,
                    models=value_of(models, f),
                    detail=f.detail,
                )
            )
    for f in ahead:
        found.append(
            _three(
                f,
                "models_ahead_of_migrations",
                live=value_of(live, f),
                migrations=f.migrations,
                models=f.models,
                detail=f.detail,
            )
        )
    return found


def _three(
    f: Finding,
    classification: Classification,
    *,
    live: str | None,
    migrations: str | None,
    models: str | None,
    detail: str,
) -> Finding:
    return replace(f, classification=classification, live=live, migrations=migrations, models=models, detail=detail)


def _side(value: str | None) -> str:
    return "(absent)" if value is None else value


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --- the live database's revision ------------------------------------------------------------------


def revision_state(
    project: Project, script: ScriptDirectory, current: tuple[str, ...]
) -> tuple[RevisionState, tuple[PendingRevision, ...], tuple[str, ...]]:
    """Up to date, behind (the revisions `upgrade heads` would run, oldest first), or unknown."""
    known = {r.revision for r in project.revisions}
    unknown = tuple(r for r in current if r not in known)
    if unknown:
        return "unknown_revision", (), unknown
    scripts = list(script.iterate_revisions("heads", current, implicit_base=True))
    pending = tuple(
        PendingRevision(sc.revision, (sc.doc or "").strip().split("\n")[0], project.file_of(sc.revision))
        for sc in reversed(scripts)
    )
    return ("behind" if pending else "up_to_date"), pending, ()


def live_info(
    target: LiveTarget, snapshot: LiveSnapshot, project: Project, script: ScriptDirectory, compared: bool
) -> LiveInfo:
    current = snapshot.revisions or ()
    state, pending, unknown = revision_state(project, script, current)
    return LiveInfo(
        target.display,
        snapshot.facts.server_version,
        ".".join(snapshot.version_table),
        current,
        project.heads,
        state,
        pending,
        unknown,
        compared,
        snapshot.seconds,
        target.statement_timeout,
        target.lock_timeout,
    )


def pending_finding(live: LiveInfo) -> Finding:
    """Behind the heads is drift of its own, even when the pending revisions change no schema."""
    listing = ", ".join(p.revision for p in live.pending)
    return Finding(
        "revisions_pending",
        live.version_table,
        "high",
        migrations=", ".join(live.heads),
        models=None,
        detail=f"behind the heads by {len(live.pending)} revision(s): {listing}; `alembic upgrade heads` runs them",
        object_type="migrations",
        classification="pending_migration",
        live=", ".join(live.current) or None,
    )


def _unknown_revision(live: LiveInfo) -> UnknownRevision:
    return UnknownRevision(
        f"the live database's {live.version_table} names revision(s) {', '.join(live.unknown)}, "
        f"which this project does not have (heads: {', '.join(live.heads) or 'none'})",
        hint="it was migrated from another branch or a newer release, or a revision file was removed; "
        "compare with that code, or restore the revision",
    )


# --- --fix: the migration that brings the live database to the models --------------------------------


def _live_fix(
    settings: Settings, target: LiveTarget, snapshot: LiveSnapshot, s: Scratch, outside: set[str], stack: ExitStack
) -> tuple[Suggestion | None, str | None]:
    """Generated and verified on a scratch copy of the live schema, upgraded to the heads first.

    Returns the suggestion (written when verified) or why none could be made. `outside`: the
    objects changed outside the migrations. The copy's own code is untrusted (DESIGN.md, trust
    boundary): it is restored, migrated and verified as a NOSUPERUSER role that owns it, and the
    live database's secrets leave the environment once it is dumped.
    """
    try:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-live-")))
        dump = dump_schema(target, snapshot, s.server.major, workdir)
        role = stack.enter_context(scratch_role(s.server))  # entered first: dropped after its databases
        copy = stack.enter_context(scratch_database(s.server, "live", owner=role))
        with secrets_removed(_live_secrets(target)):
            suggestion = _fix_on_copy(settings, snapshot, s, dump, role, copy, target)
    except _NoFix as exc:
        return None, exc.reason
    except DriftbotError as exc:
        log.debug("--fix failed", exc_info=exc)
        return None, exc.message
    except Exception as exc:  # the project's code runs here too (env.py, migrations)
        log.debug("--fix failed", exc_info=exc)
        return None, describe_exception(exc, (s.project.root,))
    if suggestion is not None:
        suggestion = replace(suggestion, hazards=tuple(_live_hazard(h, outside) for h in suggestion.hazards))
        if suggestion.verified:
            suggestion = write_suggestion(suggestion)
    return suggestion, None


UNDO_FILE = "driftbot-undo.sql"


def _live_undo(
    settings: Settings, target: LiveTarget, snapshot: LiveSnapshot, s: Scratch, built: Catalog, stack: ExitStack
) -> UndoInfo:
    """The statements that bring the live database back to `built` (what the migrations build at its
    revision), converged on a copy of its schema restored as a NOSUPERUSER role, written to a file.
    Only the kinds of objects.py: tables and columns go the other ways (`--fix-to models`)."""
    try:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-undo-")))
        dump = dump_schema(target, snapshot, s.server.major, workdir)
        role = stack.enter_context(scratch_role(s.server))
        copy = stack.enter_context(scratch_database(s.server, "undo", owner=role))
        with secrets_removed(_live_secrets(target)):
            with connect_admin(copy) as conn:
                conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role.name)))
            restore_schema(dump, snapshot, copy, role, target)
            as_role = role.url(copy)
            exclude = s.exclude | {snapshot.version_table}
            scope = _schemas_in_scope(s, snapshot)
            undo = converge(
                lambda: _scoped(read(as_role, exclude), scope), lambda st: _apply_as(as_role, st), _scoped(built, scope)
            )
    except DriftbotError as exc:
        return UndoInfo(None, (), (), exc.message)
    remaining = tuple(f"{f.kind} {f.object}" for f in undo.remaining)
    if not undo.statements or undo.error:
        return UndoInfo(None, undo.statements, remaining, undo.error)
    path = settings.project_dir / UNDO_FILE
    if path.exists():
        return UndoInfo(None, undo.statements, remaining, f"{path} already exists; not overwriting it")
    path.write_text(undo_script(undo), encoding="utf-8")
    return UndoInfo(str(path), undo.statements, remaining)


def _apply_as(url: URL, statements: list[str]) -> None:
    """One round on the copy, in one transaction, as the copy's unprivileged owner."""
    with connect_admin(url) as conn, conn.transaction():
        for statement in statements:
            conn.execute(statement.encode())


class _NoFix(Exception):
    def __init__(self, reason: str | None) -> None:
        self.reason = reason


def _live_secrets(target: LiveTarget) -> list[str | None]:
    url = target.sqlalchemy_url
    password = url.query.get("password")
    return [target.url.value, url.password, password if isinstance(password, str) else None]


def _fix_on_copy(
    settings: Settings,
    snapshot: LiveSnapshot,
    s: Scratch,
    dump: SchemaDump,
    role: ScratchRole,
    copy: URL,
    target: LiveTarget,
) -> Suggestion | None:
    """Restore, upgrade to the heads, suggest: all as `role`, on the copy."""
    with connect_admin(copy) as conn:  # restored schemas and PostgreSQL 14's public are the role's to use
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role.name)))
    restore_schema(dump, snapshot, copy, role, target)
    as_role = role.url(copy)
    # the pending revisions first: the fix revises the heads, so it runs after them
    migrations, _ = upgrade(s.project, s.config, s.script, as_role, settings.url_env_vars)
    if migrations.failure is not None:
        failed = migrations.failure
        raise _NoFix(
            f"revision {failed.revision} fails on a copy of the live schema, so "
            f"`alembic upgrade heads` would fail on the live database too: {failed.error}"
        )
    upgraded = read(as_role, s.exclude)
    settled = settle_at(as_role)(diff_catalogs(upgraded, s.models), upgraded, s.models)  # the copy, as the role
    drift = [f for f in _filtered(settled, s, settings) if f.is_drift]
    if not drift:
        raise _NoFix(None)  # `alembic upgrade heads` alone brings it to the models
    # the rejected parts of the models: for the fix to leave out, and say so
    return suggest(Workspace.from_scratch(s, settings, (*drift, *s.rejected), copy=(copy, upgraded), role=role))


def _live_hazard(hazard: Hazard, outside: set[str]) -> Hazard:
    """suggest() calls the copy "the migrations": here it is the live database."""
    if hazard.kind == "models_behind" and hazard.object in outside:
        return replace(
            hazard,
            message="only the live database has this (made outside the migrations): the "
            "alternative is to add it to the models and the migrations",
        )
    return hazard


# --- status ------------------------------------------------------------------------------------------


def _status(settings: Settings, target: LiveTarget, version_table: str | None, run: RunRecord) -> None:
    register_url(target.url.value)
    with hidden_from_project(target.url.value), project_import_scope(settings.cache), ExitStack() as stack:
        if settings.alembic_ini.parent.is_dir():
            stack.enter_context(chdir(settings.alembic_ini.parent))
        with run.stage("project"):
            project, cfg, script = load_project(settings.alembic_ini)
            table = (
                parse_version_table(version_table)
                if version_table
                else version_table_of(project, cfg, script, settings.url_env_vars)
            )
        run.project = project
        with run.stage("live"):
            snapshot = read_live(target, table, catalog=False)
        run.live = live_info(target, snapshot, project, script, compared=False)
        if run.live.pending:
            run.findings.append(pending_finding(run.live))


def parse_version_table(spec: str) -> tuple[str | None, str]:
    schema, _, table = spec.rpartition(".")
    if not table:
        raise ConfigError(f"--version-table {spec!r}: expected TABLE or SCHEMA.TABLE")
    return schema or None, table


class _Configured(Exception):
    """Raised from configure(): env.py has said what it needed to, nothing more is run."""


def version_table_of(
    project: Project, cfg: Config, script: ScriptDirectory, env_vars: tuple[str, ...]
) -> tuple[str | None, str] | None:
    """The version table env.py configures, learnt by running it in offline mode up to configure();
    None if it cannot run offline (then the live catalog says which table it is).

    env.py never sees the live URL: it gets an address that cannot be reached, and it is
    stopped at configure(), before any migration could run.
    """
    seen: dict[str, Any] = {}
    env = EnvironmentContext(cfg, script, as_sql=True, fn=lambda rev, context: [])

    def configure(*args: Any, **kw: Any) -> None:
        seen.update(kw)
        raise _Configured

    env.configure = configure  # type: ignore[method-assign]
    unreachable = make_url("postgresql://driftbot-offline.invalid/none")
    try:
        with pointed_at(cfg, unreachable, env_vars), project_logging(), env, contained("offline", None, project.root):
            script.run_env()
    except _Configured:
        return seen.get("version_table_schema"), seen.get("version_table") or DEFAULT_VERSION_TABLE
    except Exception as exc:
        log.debug(
            "env.py does not run in offline mode (%s); looking for the version table in the catalog",
            describe_exception(exc, (project.root,)),
        )
    return None
