"""`driftbot check`, the story of a run: project → PostgreSQL → migrate → build models → compare.

Each stage hands a plain value to the next. A failing stage ends the run with an error in
the Report, which still carries everything the stages before it produced.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, chdir, contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection, MetaData, create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from driftbot.catalog import EMPTY_CATALOG, Catalog, read_catalog, read_catalogs
from driftbot.config import configure
from driftbot.diff import diff_catalogs
from driftbot.errors import ConfigError, DriftbotError, ProjectError
from driftbot.filters import apply_project_hooks
from driftbot.findings import Finding
from driftbot.ignore import apply_ignore_rules
from driftbot.migrate import EnvOptions, MigrationRun, _metadata_tuple, raise_for_failure, upgrade
from driftbot.models_db import create_models, prepare_models_database
from driftbot.postgres import Server, scratch_database, start_server
from driftbot.postgres.base import DRIVER, display_url
from driftbot.project import Project, describe_exception, describe_scripts, load_project
from driftbot.report import ErrorInfo, PostgresInfo, ProjectInfo, Report, SyncResult, outcome
from driftbot.settings import Settings
from driftbot.sources import locate_sources, with_source
from driftbot.suggest import Suggestion, Workspace, suggest

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the stages produced so far: enough to report even when a later stage fails."""

    project: Project | None = None
    server: Server | None = None
    migrations: MigrationRun | None = None
    findings: list[Finding] = field(default_factory=list)
    suggestion: Suggestion | None = None
    sync: SyncResult | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0) + time.perf_counter() - started, 4)

    def report(self, error: DriftbotError | None = None) -> Report:
        info = ErrorInfo(error.stage, error.message, error.hint) if error else None
        findings = tuple(self.findings)
        synced = self.sync is not None and not self.sync.remaining
        status, exit_code = outcome(findings, info, error.exit_code if error else 0, synced)
        project = None
        if self.project is not None:
            p = self.project
            project = ProjectInfo(str(p.root), str(p.config_file), str(p.script_location), p.heads,
                                  tuple(p.file_of(h) for h in p.heads))
        postgres = PostgresInfo(self.server.provider, self.server.version) if self.server else None
        return Report(status, exit_code, project, postgres, self.migrations, findings,
                      dict(self.timings), info, self.suggestion, self.sync)


def run_check(settings: Settings) -> Report:
    run = _Run()
    started = time.perf_counter()
    try:
        _check(settings, run)
        error = None
    except DriftbotError as exc:
        log.debug("run failed", exc_info=exc)
        error = exc
    run.timings["total"] = round(time.perf_counter() - started, 4)
    return run.report(error)


@contextmanager
def project_import_scope() -> Iterator[None]:
    """Modules the project imports are forgotten afterwards, so runs don't leak into each other.

    Warnings raised by the project's code (deprecations in its env.py, alembic.ini, models)
    are the project's business: they go to the debug log instead of the user's terminal.
    """
    modules, path = set(sys.modules), list(sys.path)
    try:
        # whatever the project prints must not mix with a report written to stdout
        with warnings.catch_warnings(record=True) as caught, redirect_stdout(sys.stderr):
            warnings.simplefilter("always")
            yield
    finally:
        for warning in caught:
            log.debug("project warning: %s:%s: %s", warning.filename, warning.lineno, warning.message)
        for name in set(sys.modules) - modules:
            del sys.modules[name]
        sys.path[:] = path


def _absolute(settings: Settings) -> Settings:
    """Paths the user gave, relative to where they ran driftbot (the run changes directory)."""
    baseline = settings.baseline
    if baseline and Path(baseline).suffix == ".sql" and Path(baseline).is_file():
        baseline = str(Path(baseline).resolve())
    return settings.replace(project_dir=settings.project_dir.resolve(), baseline=baseline,
                            config_file=settings.config_file.resolve() if settings.config_file else None)


def _check(settings: Settings, run: _Run) -> None:
    settings = _absolute(configure(settings))  # [tool.driftbot] under what the caller set
    with project_import_scope(), ExitStack() as stack:
        if settings.alembic_ini.parent.is_dir():
            # Alembic resolves relative script_location and prepend_sys_path against the working
            # directory: run where `alembic` is run, next to alembic.ini
            stack.enter_context(chdir(settings.alembic_ini.parent))
        with run.stage("project"):
            project, cfg, script = load_project(settings.alembic_ini)
        run.project = project
        if len(project.heads) > 1:
            run.findings.append(_multiple_heads(project))
        with run.stage("postgres"):
            server = stack.enter_context(start_server(settings))
            run.server = server
            m_url = stack.enter_context(scratch_database(server, "m"))
            o_url = stack.enter_context(scratch_database(server, "o"))
        m_engine = create_engine(m_url, poolclass=NullPool)
        o_engine = create_engine(o_url, poolclass=NullPool)
        stack.callback(m_engine.dispose)
        stack.callback(o_engine.dispose)
        if settings.baseline:
            with run.stage("baseline"), m_engine.begin() as conn:
                apply_baseline(conn, settings.baseline, project)
        early = _EarlyModels(o_engine, settings.metadata)
        stack.callback(early.wait)  # before the scratch databases are dropped
        with run.stage("migrate"):
            run.migrations, options = upgrade(project, cfg, script, m_url, settings.url_env_vars,
                                              on_configured=early.start)
        raise_for_failure(run.migrations, project)
        metadatas = load_metadata(settings.metadata) if settings.metadata else options.target_metadata
        if not metadatas:
            raise ConfigError(f"{project.script_location / 'env.py'} sets no target_metadata",
                              hint="set target_metadata in env.py, or pass --metadata module:attr")
        with m_engine.connect() as conn:
            default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        version_table = _version_table(options, default_schema)
        rejected: list[Finding] = []
        with run.stage("models"):
            built_early = early.wait()
        if built_early:
            with run.stage("catalog"):
                m_catalog, o_catalog = read_catalogs((m_engine, version_table), (o_engine, frozenset()))
        else:  # the careful build needs the extensions the migrations installed
            with run.stage("catalog"), m_engine.connect() as conn:
                m_catalog = read_catalog(conn, exclude=version_table)
            with run.stage("models"), o_engine.begin() as conn:
                rejected = build_models_database(conn, metadatas, m_catalog, default_schema, project)
            with run.stage("catalog"), o_engine.connect() as conn:
                o_catalog = read_catalog(conn)
        with run.stage("diff"):
            findings = apply_ignore_rules(apply_project_hooks(diff_catalogs(m_catalog, o_catalog) + rejected,
                                                              options, metadatas, default_schema), settings.ignore)
            tables = {(f.schema, f.table) for f in findings if f.schema and f.table and f.models is not None}
            sources = locate_sources(metadatas, default_schema, tables)
            run.findings += [with_source(f, sources) for f in findings]
        if settings.suggest and (any(f.is_drift for f in findings) or len(project.heads) > 1):
            m_engine.dispose()  # database M is the template of the verification copies
            with run.stage("suggest"):
                run.suggestion = suggest(Workspace(
                    project, cfg, server, str(m_url.database), m_catalog, o_catalog, tuple(findings),
                    settings.url_env_vars, _version_table(options, default_schema), default_schema,
                    frozenset(t.schema for md in metadatas for t in md.tables.values() if t.schema) - {default_schema},
                    settings.message))
            if settings.write and run.suggestion is not None:
                run.suggestion = write_suggestion(run.suggestion)
        if settings.target_url is not None:
            with run.stage("sync"):
                run.sync = sync_target(settings, project, cfg, o_catalog, options, metadatas, default_schema)


def sync_target(settings: Settings, project: Project, cfg: Config, models: Catalog, options: EnvOptions,
                metadatas: tuple[MetaData, ...], default_schema: str) -> SyncResult:
    """Bring a development database to the heads (the new suggestion included) and re-compare."""
    assert settings.target_url is not None
    target = make_url(settings.target_url.value).set(drivername=DRIVER)
    project_now, script_now = describe_scripts(cfg, project.config_file)
    migrations, _ = upgrade(project_now, cfg, script_now, target, settings.url_env_vars)
    raise_for_failure(migrations, project_now)
    engine = create_engine(target, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            live = read_catalog(conn, exclude=_version_table(options, default_schema))
    finally:
        engine.dispose()
    remaining = apply_ignore_rules(apply_project_hooks([f for f in diff_catalogs(live, models) if f.is_drift],
                                                       options, metadatas, default_schema), settings.ignore)
    return SyncResult(display_url(target), migrations.applied, tuple(remaining))


def write_suggestion(suggestion: Suggestion) -> Suggestion:
    """Write a verified suggestion into the project's versions directory; never overwrite."""
    target = Path(suggestion.path)
    if not suggestion.verified or not suggestion.content:
        return suggestion
    if target.exists():
        raise ConfigError(f"{target} already exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.driftbot-tmp")
    tmp.write_text(suggestion.content, encoding="utf-8")
    tmp.replace(target)
    return replace(suggestion, written=True)


class _EarlyModels:
    """Builds the models' database while the migrations run (both take seconds on big projects).

    Started as soon as env.py has configured the context, so the target metadata is known.
    It only tries the plain `create_all`, in one transaction; if anything fails (an extension
    the migrations install, an object PostgreSQL rejects) it rolls back and the careful
    sequential build runs after the migrations instead.
    """

    def __init__(self, engine: Engine, metadata_spec: str | None) -> None:
        self.engine = engine
        self.metadata_spec = metadata_spec
        self.thread: threading.Thread | None = None
        self.succeeded = False

    def start(self, options: EnvOptions) -> None:
        try:
            metadatas = load_metadata(self.metadata_spec) if self.metadata_spec else options.target_metadata
        except DriftbotError:
            return  # reported by the main path, with the right stage
        if metadatas:
            self.thread = threading.Thread(target=self._build, args=(metadatas,), name="driftbot-models", daemon=True)
            self.thread.start()

    def _build(self, metadatas: tuple[MetaData, ...]) -> None:
        try:
            with self.engine.begin() as conn:
                default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
                prepare_models_database(conn, metadatas, EMPTY_CATALOG, default_schema)
                for metadata in metadatas:
                    metadata.create_all(conn)
            self.succeeded = True
        except Exception as exc:
            log.debug("early models build failed; building after the migrations: %s", exc)

    def wait(self) -> bool:
        """Whether the early build produced the complete models' database."""
        if self.thread is not None:
            self.thread.join()
        return self.succeeded


def _version_table(options: EnvOptions, default_schema: str) -> frozenset[tuple[str, str]]:
    return frozenset({(options.version_table_schema or default_schema, options.version_table)})


def build_models_database(conn: Connection, metadatas: tuple[MetaData, ...], m_catalog: Catalog,
                          default_schema: str, project: Project) -> list[Finding]:
    try:
        prepare_models_database(conn, metadatas, m_catalog, default_schema)
        return create_models(conn, metadatas, default_schema)
    except DriftbotError:
        raise
    except Exception as exc:
        raise ProjectError(f"building the models' schema failed: "
                           f"{describe_exception(exc, (project.root,))}") from exc


def load_metadata(spec: str) -> tuple[MetaData, ...]:
    """`module:attr` → the MetaData (or list of MetaData, or declarative Base) it names."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--metadata {spec!r}: expected module:attribute, e.g. myapp.models:Base")
    try:
        value: object = importlib.import_module(module_name)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ProjectError(f"--metadata {spec}: {describe_exception(exc)}") from exc
    return _metadata_tuple(value)


def apply_baseline(conn: Connection, baseline: str, project: Project) -> None:
    """Prepare the empty migrations database: a SQL file, or a `module:callable(connection)`."""
    for candidate in (Path(baseline), project.root / baseline):
        if candidate.suffix == ".sql" and candidate.is_file():
            try:
                conn.exec_driver_sql(candidate.read_text())
            except Exception as exc:
                raise ProjectError(f"--baseline {candidate} failed: {exc}") from exc
            return
    if baseline.endswith(".sql"):
        raise ConfigError(f"--baseline {baseline}: file not found")
    module_name, _, attr = baseline.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--baseline {baseline!r}: expected FILE.sql or module:callable")
    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    try:
        prepare = getattr(importlib.import_module(module_name), attr)
        prepare(conn)
    except Exception as exc:
        raise ProjectError(f"--baseline {baseline} failed: {describe_exception(exc)}") from exc


def _multiple_heads(project: Project) -> Finding:
    listing = "\n".join(f"{head} ({project.file_of(head)})" for head in project.heads)
    return Finding("multiple_heads", "migrations.heads", "high", migrations=listing, models=None,
                   detail=f"{len(project.heads)} heads: the branch was probably created from an older "
                          "main. Merge them with `alembic merge heads -m merge`.",
                   object_type="migrations")
