"""Stages 1-3a, shared by `check` and `detect`: the scratch databases M and O and their catalogs.

M is an empty database + the project's migrations to the heads (through its own env.py);
O is an empty database + `create_all` of the models, built while the migrations run. Both
catalogs are then read at once. `RunRecord` keeps what the stages produced, so a failing
stage still yields the report of the stages before it.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import sysconfig
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, chdir, contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import URL, Engine

from driftbot.compare.catalog import Catalog, TableKey, read_catalog, read_catalogs
from driftbot.compare.findings import Finding
from driftbot.errors import ConfigError, DriftbotError, ProjectError
from driftbot.postgres import Server, scratch_database, start_server
from driftbot.project.locate import Project, describe_exception, describe_script, load_project
from driftbot.project.migrate import EnvOptions, MigrationRun, flask_app_context, metadata_tuple, raise_for_failure, upgrade
from driftbot.project.models_db import collation_ddl
from driftbot.project.models_process import ModelsBuild, ModelsRequest
from driftbot.project.models_process import build as build_models
from driftbot.report.model import ErrorInfo, LiveInfo, PostgresInfo, ProjectInfo, Report, SyncResult, outcome
from driftbot.runs.live import client_bindir
from driftbot.runs.snapshot_databases import SnapshotDatabases
from driftbot.runs.snapshots import CacheInfo, ProjectSnapshots, SnapshotCache, SnapshotError, chain_keys, depth
from driftbot.safety import containment
from driftbot.safety.containment import contained, own_engine
from driftbot.safety.masking import register_url, scrub
from driftbot.settings import Settings
from driftbot.suggest.generate import Suggestion

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What the stages produced so far: enough to report even when a later stage fails."""

    project: Project | None = None
    server: Server | None = None
    migrations: MigrationRun | None = None
    findings: list[Finding] = field(default_factory=list)
    suggestion: Suggestion | None = None
    sync: SyncResult | None = None
    live: LiveInfo | None = None
    cache: CacheInfo | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0) + time.perf_counter() - started, 4)

    def execute(self, body: Callable[[], None]) -> DriftbotError | None:
        """Run the stages in `body`, timing the whole; the error that ended them, if any."""
        started = time.perf_counter()
        error: DriftbotError | None = None
        containment.reset()
        try:
            body()
        except DriftbotError as exc:
            log.debug("run failed", exc_info=exc)
            error = exc
        self.timings["total"] = round(time.perf_counter() - started, 4)
        return error

    def report(self, error: DriftbotError | None = None) -> Report:
        info = ErrorInfo(error.stage, scrub(error.message), scrub(error.hint)) if error else None
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
                      dict(self.timings), info, self.suggestion, self.sync, self.live,
                      redirects=containment.redirects(), cache=self.cache)


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
            if not _installed(sys.modules[name]):
                del sys.modules[name]
        sys.path[:] = path


_INSTALLED = tuple({str(Path(p).resolve()) + os.sep for p in sysconfig.get_paths().values()})


def _installed(module: object) -> bool:
    """A module of Python or of an installed package: kept, since extension modules can't be imported twice."""
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and str(Path(file).resolve()).startswith(_INSTALLED)


def absolute_paths(settings: Settings) -> Settings:
    """Paths the user gave, relative to where they ran driftbot (the run changes directory)."""
    baseline = settings.baseline
    if baseline and Path(baseline).suffix == ".sql" and Path(baseline).is_file():
        baseline = str(Path(baseline).resolve())
    return settings.replace(project_dir=settings.project_dir.resolve(), baseline=baseline,
                            config_file=settings.config_file.resolve() if settings.config_file else None,
                            script_location=settings.script_location.resolve() if settings.script_location else None)


@dataclass(frozen=True)
class Scratch:
    """The migrations' database M and the models' database O, built and read."""

    project: Project
    config: Config
    script: ScriptDirectory
    server: Server
    m_url: URL  # M: at the heads; the template of the suggestion's verification copies
    options: EnvOptions  # what the project's env.py configured
    metadatas: tuple[MetaData, ...]
    default_schema: str
    exclude: frozenset[TableKey]  # the version table
    heads: Catalog  # M's catalog
    models: Catalog  # O's catalog
    rejected: tuple[Finding, ...]  # parts of the models PostgreSQL refused (model_rejected)

    @property
    def model_schemas(self) -> frozenset[str]:
        """The non-default schemas the models use."""
        return frozenset(t.schema for md in self.metadatas for t in md.tables.values() if t.schema) - {self.default_schema}


def open_project(settings: Settings, run: RunRecord, stack: ExitStack) -> tuple[Project, Config, ScriptDirectory, Server]:
    """The project (run next to its alembic.ini) and the scratch server, which `stack` stops."""
    if settings.alembic_ini.parent.is_dir():
        # Alembic resolves relative script_location and prepend_sys_path against the working
        # directory: run where `alembic` is run, next to alembic.ini
        stack.enter_context(chdir(settings.alembic_ini.parent))
    with run.stage("project"):
        project, cfg, script = load_project(settings.alembic_ini, settings.script_location)
    run.project = project
    if len(project.heads) > 1:
        run.findings.append(multiple_heads(project))
    for url in (settings.database_url, settings.target_url):
        register_url(url.value if url else None)
    with run.stage("postgres"):
        server = stack.enter_context(start_server(settings))
        register_url(server.admin_url)
        run.server = server
    return project, cfg, script, server


def build_scratch(settings: Settings, project: Project, cfg: Config, script: ScriptDirectory, server: Server,
                  run: RunRecord, stack: ExitStack) -> Scratch:
    """Build M and O on `server` (dropped when `stack` closes) and read both catalogs."""
    with run.stage("postgres"):
        m_url = stack.enter_context(scratch_database(server, "m"))
        o_url = stack.enter_context(scratch_database(server, "o"))
    m_engine = own_engine(m_url)
    o_engine = own_engine(o_url)
    try:
        # the models' build holds a lock per object until it commits: beside the migrations' own
        # transaction only where the server's lock table has room for both, else after them, in slices
        slots = _lock_slots(m_engine)
        chunk = 0 if slots >= CONCURRENT_BUILD_LOCK_SLOTS else max(25, slots // 16)
        request = ModelsRequest(str(project.config_file), settings.metadata,
                                o_url.render_as_string(hide_password=False), settings.url_env_vars,
                                script_location=str(settings.script_location) if settings.script_location else None,
                                flask_app=settings.flask_app, chunk=chunk)
        early = ModelsBuild(request) if not chunk else None  # in its own process, while the migrations run
        if early is not None:
            stack.callback(early.stop)
        snapshots, note = project_snapshots(settings, project, server)
        restored = None
        # the archive restores while env.py imports the models; a baseline or an application
        # context needs the database first
        pending = (snapshots.restore_in_background(m_url)
                   if snapshots is not None and not settings.baseline and not settings.flask_app else None)
        if snapshots is not None and pending is None:
            with run.stage("restore"):
                m_engine.dispose()  # M is replaced by a copy of a snapshot: nobody may be connected to it
                restored = _restore(snapshots, m_url)
        if settings.baseline and restored is None:
            with run.stage("baseline"), m_engine.begin() as conn:
                apply_baseline(conn, settings.baseline, project, m_url)
        run.cache = CacheInfo(restored=restored, note=note)
        # --flask-app: the application's context for the rest of the run (migrations, suggestion)
        stack.enter_context(flask_app_context(settings.flask_app, m_url, project.root))
        with run.stage("migrate"):
            run.migrations, options = upgrade(project, cfg, script, m_url, settings.url_env_vars,
                                              ready=pending.wait if pending is not None else None)
        if pending is not None:  # its time overlaps the migrate stage's
            run.cache = replace(run.cache, restored=pending.wait())
            run.timings["restore"] = pending.seconds
        if options.version_locations is not None:  # env.py chose other versions directories
            project = relocated(project, script, run)
            snapshots = None  # keyed by the chain alembic.ini names, which is not the one that ran
        raise_for_failure(run.migrations, project, baseline=settings.baseline is not None)
        if snapshots is not None:
            with run.stage("snapshot"):
                m_engine.dispose()  # a copy of M is kept: nobody may be connected to it
                run.cache = replace(run.cache, stored=_store(snapshots, project.heads, m_url))
        if settings.metadata:
            with contained("models", m_url, project.root):
                metadatas = load_metadata(settings.metadata)
        else:
            metadatas = options.target_metadata
        if not metadatas:
            raise ConfigError(f"{project.script_location / 'env.py'} sets no target_metadata",
                              hint="set target_metadata in env.py, or pass --metadata module:attr")
        with m_engine.connect() as conn:
            default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        exclude = version_table(options, default_schema)
        with run.stage("models"):
            built = early.result() if early is not None else build_models(request)
        if built.built:
            with run.stage("catalog"):
                heads, models = read_catalogs((m_engine, exclude), (o_engine, frozenset()))
        else:  # the careful build needs the extensions the migrations installed
            with run.stage("catalog"), m_engine.connect() as conn:
                heads = read_catalog(conn, exclude=exclude)
                collations = collation_ddl(conn)
            if chunk:  # slices that committed before one failed: the careful build starts from empty
                o_engine.dispose()
                o_url = stack.enter_context(scratch_database(server, "o2"))
                o_engine = own_engine(o_url)
            with run.stage("models"):
                built = build_models(replace(request, careful=True, extensions=heads.extensions, schemas=heads.schemas,
                                             collations=collations, url=o_url.render_as_string(hide_password=False)))
            if not built.built:
                raise ProjectError(f"building the models' schema failed: {built.error}", hint=built.hint)
            with run.stage("catalog"), o_engine.connect() as conn:
                models = read_catalog(conn)
        containment.record(built.redirects)
    finally:
        m_engine.dispose()  # no connection may stay open to M: it is copied as a template later
        o_engine.dispose()
    return Scratch(project, cfg, script, server, m_url, options, metadatas, default_schema, exclude, heads, models,
                   built.rejected)


CONCURRENT_BUILD_LOCK_SLOTS = 10_000  # driftbot's own servers: 256 x 50 = 12,800; PostgreSQL's defaults: 64 x 100 = 6,400


def _lock_slots(engine: Engine) -> int:
    """The size of the server's shared lock table (max_locks_per_transaction x sessions)."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT current_setting('max_locks_per_transaction')::int * (current_setting('max_connections')::int"
            " + current_setting('max_prepared_transactions')::int)")).scalar_one())


def relocated(project: Project, script: ScriptDirectory, run: RunRecord) -> Project:
    """The project as env.py's version_locations show it: the revisions and heads that really ran."""
    now = describe_script(script, project.config_file)
    log.debug("env.py replaced the version locations: %d revision(s), heads %s (alembic.ini's: %d, heads %s)",
              len(now.revisions), ", ".join(now.heads) or "none", len(project.revisions),
              ", ".join(project.heads) or "none")
    run.project = now
    run.findings[:] = [f for f in run.findings if f.kind != "multiple_heads"]
    if len(now.heads) > 1:
        run.findings.append(multiple_heads(now))
    return now


def project_snapshots(settings: Settings, project: Project, server: Server) -> tuple[ProjectSnapshots | None, str]:
    """The snapshot cache for this project's chain, or None and why not."""
    if not settings.cache:
        return None, "--no-cache"
    try:
        bindir = client_bindir(server.major, server.major)
    except DriftbotError:
        return None, f"no pg_dump/pg_restore for PostgreSQL {server.major} on this machine"
    env_files = (project.config_file, project.script_location / "env.py")
    keys = chain_keys(project, env_files, _baseline_bytes(settings.baseline, project), server.major)
    cache = SnapshotCache.from_env()
    # copies on the server only where this run may write the cache itself (not the action's worker)
    databases = SnapshotDatabases.for_server(server) if cache.store_root == cache.root else None
    return ProjectSnapshots(cache, keys, depth(project), bindir, databases), ""


def _baseline_bytes(baseline: str | None, project: Project) -> bytes:
    """What `--baseline` adds, for the snapshot key: the SQL file's bytes, or the callable's module file."""
    if not baseline:
        return b""
    for candidate in (Path(baseline), project.root / baseline):
        if candidate.is_file():
            return candidate.read_bytes()
    module = baseline.partition(":")[0].replace(".", os.sep)
    for candidate in (project.root / f"{module}.py", project.root / module / "__init__.py"):
        if candidate.is_file():
            return baseline.encode() + candidate.read_bytes()
    return baseline.encode()


def _restore(snapshots: ProjectSnapshots, url: URL) -> str | None:
    try:
        return snapshots.restore_deepest(url)
    except (SnapshotError, OSError) as exc:  # a damaged or foreign archive: run cold
        log.warning("the cached snapshot could not be restored, running every revision: %s", exc)
        return None


def _store(snapshots: ProjectSnapshots, heads: tuple[str, ...], url: URL) -> tuple[str, ...]:
    try:
        return snapshots.store_heads(heads, url)
    except (SnapshotError, OSError) as exc:  # a full disk must not fail the check
        log.warning("could not keep a snapshot for later runs: %s", exc)
        return ()


def version_table(options: EnvOptions, default_schema: str) -> frozenset[tuple[str, str]]:
    return frozenset({(options.version_table_schema or default_schema, options.version_table)})


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
    return metadata_tuple(value)


def apply_baseline(conn: Connection, baseline: str, project: Project, url: URL) -> None:
    """Prepare the empty migrations database `url`: a SQL file, a `module:callable(connection)`, or a
    `module:attr` naming a MetaData (a list of them, or a declarative Base): its `create_all`."""
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
        raise ConfigError(f"--baseline {baseline!r}: expected FILE.sql, module:callable or module:MetaData")
    if str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    try:
        with contained("baseline", url, project.root):
            prepare: object = importlib.import_module(module_name)
            for part in attr.split("."):
                prepare = getattr(prepare, part)
            metadatas = _baseline_metadata(prepare)
            if metadatas:
                log.debug("--baseline %s: create_all of %d MetaData", baseline, len(metadatas))
                for metadata in metadatas:
                    metadata.create_all(conn)
            elif callable(prepare):
                prepare(conn)
            else:
                raise ConfigError(f"--baseline {baseline}: {type(prepare).__name__} is neither a callable "
                                  "nor a MetaData or declarative Base")
    except ConfigError:
        raise
    except Exception as exc:
        raise ProjectError(f"--baseline {baseline} failed: {describe_exception(exc)}") from exc


def _baseline_metadata(value: object) -> tuple[MetaData, ...]:
    """The MetaData a --baseline attribute names (a declarative Base is a class, so callable too)."""
    try:
        return metadata_tuple(value)
    except ConfigError:
        return ()


def multiple_heads(project: Project) -> Finding:
    listing = "\n".join(f"{head} ({project.file_of(head)})" for head in project.heads)
    return Finding("multiple_heads", "migrations.heads", "high", migrations=listing, models=None,
                   detail=f"{len(project.heads)} heads: the branch was probably created from an older "
                          "main. Merge them with `alembic merge heads -m merge`.",
                   object_type="migrations")
