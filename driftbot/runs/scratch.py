"""Stages 1-3a, shared by `check` and `detect`: the scratch databases M and O and their catalogs.

M is an empty database + the project's migrations to the heads (through its own env.py);
O is an empty database + `create_all` of the models, built while the migrations run. Both
catalogs are then read at once. What each stage produced goes to the run's `RunRecord`
(record.py).
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, chdir, contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, Engine

from driftbot.compare.catalog import Catalog, TableKey, read_catalog, read_catalogs, with_declared
from driftbot.compare.findings import Finding
from driftbot.errors import ConfigError, DriftbotError, ProjectError
from driftbot.postgres import Server, scratch_database, start_server
from driftbot.postgres.datadir import cache_root
from driftbot.project.baseline import apply_baseline, baseline_bytes
from driftbot.project.declared import forget_declarations
from driftbot.project.locate import Project, describe_script, load_project
from driftbot.project.migrate import EnvOptions, flask_app_context, raise_for_failure, upgrade
from driftbot.project.models_db import collation_ddl
from driftbot.project.models_ddl import execute_all
from driftbot.project.models_process import ModelsBuild, ModelsRequest, ModelsResult, load_metadata
from driftbot.project.models_process import build as build_models
from driftbot.report.model import CacheInfo
from driftbot.runs.live import client_bindir
from driftbot.runs.models_copies import ModelsCopies
from driftbot.runs.record import RunRecord
from driftbot.runs.snapshot_databases import SnapshotDatabases
from driftbot.runs.snapshots import ProjectSnapshots, SnapshotCache, SnapshotError, chain_keys, depth
from driftbot.runtime import project_bytecode
from driftbot.safety import containment
from driftbot.safety.containment import contained, engine_for
from driftbot.safety.masking import register_url
from driftbot.settings import Settings

log = logging.getLogger(__name__)


def bytecode_dir(cache: bool) -> Path | None:
    """The compiled project modules' directory; none with `--no-cache` (a cold run compiles all)."""
    return cache_root() / "bytecode" if cache else None


@contextmanager
def project_import_scope(cache: bool = False) -> Iterator[None]:
    """Modules the project imports are forgotten afterwards, so runs don't leak into each other;
    their bytecode goes to driftbot's cache (runtime.project_bytecode), never into the project.

    Warnings raised by the project's code (deprecations in its env.py, alembic.ini, models)
    are the project's business: they go to the debug log instead of the user's terminal.
    """
    modules, path = set(sys.modules), list(sys.path)
    try:
        # whatever the project prints must not mix with a report written to stdout
        with (
            warnings.catch_warnings(record=True) as caught,
            redirect_stdout(sys.stderr),
            project_bytecode(bytecode_dir(cache)),
        ):
            warnings.simplefilter("always")
            yield
    finally:
        for warning in caught:
            log.debug("project warning: %s:%s: %s", warning.filename, warning.lineno, warning.message)
        for name in set(sys.modules) - modules:
            if not _installed(sys.modules[name]):
                del sys.modules[name]
        forget_declarations()
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
    return settings.replace(
        project_dir=settings.project_dir.resolve(),
        baseline=baseline,
        config_file=settings.config_file.resolve() if settings.config_file else None,
        script_location=settings.script_location.resolve() if settings.script_location else None,
    )


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
    # the head's archive is written from M in the background (pg_dump is connected to it meanwhile)
    m_stored: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)

    def wait(self) -> None:
        """M with nobody connected: every use of M as a template (or release() of it) calls this first."""
        self.m_stored()

    @property
    def model_schemas(self) -> frozenset[str]:
        """The non-default schemas the models use."""
        return frozenset(t.schema for md in self.metadatas for t in md.tables.values() if t.schema) - {
            self.default_schema
        }


@dataclass(frozen=True)
class Opened:
    """A run's project and scratch server, and the models' build process already importing."""

    project: Project
    config: Config
    script: ScriptDirectory
    server: Server
    models: ModelsBuild


def open_project(settings: Settings, run: RunRecord, stack: ExitStack) -> Opened:
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
    models = ModelsBuild()  # its imports take as long as a small project's whole build: they start now
    stack.callback(models.stop)
    for url in (settings.database_url, settings.target_url):
        register_url(url.value if url else None)
    with run.stage("postgres"):
        server = stack.enter_context(start_server(settings))
        register_url(server.admin_url)
        run.server = server
    return Opened(project, cfg, script, server, models)


def build_scratch(settings: Settings, opened: Opened, run: RunRecord, stack: ExitStack) -> Scratch:
    """Build M and O on the run's server (dropped when `stack` closes) and read both catalogs."""
    project, cfg, script, server = opened.project, opened.config, opened.script, opened.server
    with run.stage("postgres"):
        m_url = stack.enter_context(scratch_database(server, "m"))
        o_url = stack.enter_context(scratch_database(server, "o"))
    b = _Build(settings, server, run, stack, ModelsCopies.for_run(settings.cache, server))
    # disposed after the build: no connection may stay open to M, it is copied as a template later
    with engine_for(m_url) as m_engine, engine_for(o_url) as o_engine:
        request = _start_models(b, project, m_engine, o_url, opened.models)
        project, options, m_stored = _migrate(b, project, cfg, script, m_url, m_engine)
        metadatas = _target_metadata(settings, project, options, m_url)
        with m_engine.connect() as conn:
            default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        exclude = version_table(options, default_schema)
        heads, models, rejected = _catalogs(b, request, opened.models, (m_engine, exclude), o_engine)
    s = Scratch(
        project, cfg, script, server, m_url, options, metadatas, default_schema, exclude, heads, models, rejected
    )
    return replace(s, m_stored=m_stored)


@dataclass(frozen=True)
class _Build:
    """What each step of `build_scratch` works with."""

    settings: Settings
    server: Server
    run: RunRecord
    stack: ExitStack
    copies: ModelsCopies | None  # the models' databases kept on this server, if it keeps them


def _start_models(b: _Build, project: Project, m_engine: Engine, o_url: URL, child: ModelsBuild) -> ModelsRequest:
    """The request for O, handed to its process now when its build can run beside the migrations."""
    # the models' build holds a lock per object until it commits: beside the migrations' own
    # transaction only where the server's lock table has room for both, else after them, in slices
    slots = _lock_slots(m_engine)
    chunk = 0 if slots >= CONCURRENT_BUILD_LOCK_SLOTS else max(25, slots // 16)
    s = b.settings
    request = ModelsRequest(
        str(project.config_file),
        s.metadata,
        o_url.render_as_string(hide_password=False),
        s.url_env_vars,
        bytecode=str(prefix) if (prefix := bytecode_dir(s.cache)) is not None else None,
        script_location=str(s.script_location) if s.script_location else None,
        flask_app=s.flask_app,
        chunk=chunk,
        listed=True,
        kept=b.copies.kept() if b.copies is not None else (),
    )
    if not chunk:
        child.start(request)  # in its own process, while the migrations run
    return request


def _migrate(
    b: _Build, project: Project, cfg: Config, script: ScriptDirectory, m_url: URL, m_engine: Engine
) -> tuple[Project, EnvOptions, Callable[[], None]]:
    """M to the heads, from the deepest cached snapshot (else the baseline); the heads kept for later runs.
    The project as it ran (env.py may choose other versions directories), what its env.py configured,
    and the wait for the head's archive, written from M in the background (see `_store`)."""
    settings, run = b.settings, b.run
    snapshots, note = project_snapshots(settings, project, b.server)
    restored = None
    # the archive restores while env.py imports the models; a baseline or an application
    # context needs the database first
    pending = (
        snapshots.restore_in_background(m_url)
        if snapshots is not None and not settings.baseline and not settings.flask_app
        else None
    )
    if snapshots is not None and pending is None:
        with run.stage("restore"):
            m_engine.dispose()  # M may be replaced by a copy of a snapshot: nobody may be connected to it
            restored = _restore(snapshots, m_url)
    if settings.baseline and restored is None:
        with run.stage("baseline"), m_engine.begin() as conn:
            apply_baseline(conn, settings.baseline, project, m_url)
    run.cache = CacheInfo(restored=restored, note=note)
    # --flask-app: the application's context for the rest of the run (migrations, suggestion)
    b.stack.enter_context(flask_app_context(settings.flask_app, m_url, project.root))
    with run.stage("migrate"):
        run.migrations, options = upgrade(
            project, cfg, script, m_url, settings.url_env_vars, ready=pending.wait if pending is not None else None
        )
    if pending is not None:  # its time overlaps the migrate stage's
        run.cache = replace(run.cache, restored=pending.wait())
        run.timings["restore"] = pending.seconds
    if options.version_locations is not None:  # env.py chose other versions directories
        project = relocated(project, script, run)
        snapshots = None  # keyed by the chain alembic.ini names, which is not the one that ran
    raise_for_failure(run.migrations, project, baseline=settings.baseline is not None)
    if snapshots is None:
        return project, options, _nothing_pending
    with run.stage("snapshot"):
        m_engine.dispose()  # a copy of M is kept: nobody may be connected to it
        return project, options, _store(b, snapshots, project.heads, m_url)


def _target_metadata(settings: Settings, project: Project, options: EnvOptions, m_url: URL) -> tuple[MetaData, ...]:
    """The models to compare: `--metadata`, else env.py's target_metadata."""
    if settings.metadata:
        with contained("models", m_url, project.root):
            metadatas = load_metadata(settings.metadata)
    else:
        metadatas = options.target_metadata
    if not metadatas:
        raise ConfigError(
            f"{project.script_location / 'env.py'} sets no target_metadata",
            hint="set target_metadata in env.py, or pass --metadata module:attr",
        )
    return metadatas


def _catalogs(
    b: _Build, request: ModelsRequest, child: ModelsBuild, m: tuple[Engine, frozenset[TableKey]], o_engine: Engine
) -> tuple[Catalog, Catalog, tuple[Finding, ...]]:
    """M's and O's catalogs once O is built, and what of the models PostgreSQL rejected."""
    with b.run.stage("models"):
        if not child.started:  # after the migrations, in slices (a small lock table)
            child.start(request)
        built = child.result()
        if built.built and built.statements and b.copies is not None:
            built = _kept_models(b, b.copies, request, built, o_engine)
    if built.built:
        with b.run.stage("catalog"):
            heads, models = read_catalogs(m, (o_engine, frozenset()))
    else:  # the careful build needs the extensions the migrations installed
        heads, models, built = _careful_models(b, request, m, o_engine)
    containment.record(built.redirects)
    return heads, with_declared(models, built.declared), built.rejected


def _kept_models(
    b: _Build, copies: ModelsCopies, request: ModelsRequest, built: ModelsResult, o_engine: Engine
) -> ModelsResult:
    """O from the kept build the child chose and the rest of its list; kept for later runs either way."""
    database = str(o_engine.url.database)
    o_engine.dispose()  # O is replaced by a copy, or copied: nobody may be connected to it
    if built.reuse:
        if copies.copy_into(built.reuse, database) and _ran(o_engine, built.remainder):
            assert b.run.cache is not None
            b.run.cache = replace(
                b.run.cache, models=f"copied a kept build, then ran {len(built.remainder)} statement(s)"
            )
            if len(built.remainder) * KEEP_WHEN_REST_IS <= len(built.statements):
                return built  # the kept build serves the next run as well (a copy costs ~0.3 s at 1,000 tables)
        else:  # evicted meanwhile, or the rest does not apply to it: from scratch, as if nothing was kept
            copies.databases.empty(database)
            built = build_models(replace(request, kept=()))
            if not built.built or not built.statements:
                return built
        o_engine.dispose()
    copies.keep(built.statements, database)
    return built


KEEP_WHEN_REST_IS = 10  # a copy of a kept build plus at least 1/10 of the list is kept as a build of its own


def _ran(engine: Engine, statements: tuple[str, ...]) -> bool:
    """Whether `statements` ran, all in one transaction (else none did)."""
    try:
        with engine.begin() as conn:
            execute_all(conn, statements)
    except Exception as exc:  # the models' own SQL: PostgreSQL may refuse it on this copy
        log.debug("the rest of the models' statements failed on the kept build (%s): building from scratch", exc)
        return False
    return True


def _careful_models(
    b: _Build, request: ModelsRequest, m: tuple[Engine, frozenset[TableKey]], o_engine: Engine
) -> tuple[Catalog, Catalog, ModelsResult]:
    """O object by object, after the migrations, with the extensions, schemas and collations they made."""
    m_engine, exclude = m
    with b.run.stage("catalog"), m_engine.connect() as conn:
        heads = read_catalog(conn, exclude=exclude)
        collations = collation_ddl(conn)
    o_url = o_engine.url
    if request.chunk:  # slices that committed before one failed: the careful build starts from empty
        o_engine.dispose()
        o_url = b.stack.enter_context(scratch_database(b.server, "o2"))
    with b.run.stage("models"):
        built = build_models(
            replace(
                request,
                careful=True,
                extensions=heads.extensions,
                schemas=heads.schemas,
                collations=collations,
                url=o_url.render_as_string(hide_password=False),
            )
        )
    if not built.built:
        raise ProjectError(f"building the models' schema failed: {built.error}", hint=built.hint)
    with b.run.stage("catalog"), engine_for(o_url) as engine, engine.connect() as conn:
        models = read_catalog(conn)
    return heads, models, built


CONCURRENT_BUILD_LOCK_SLOTS = (
    10_000  # driftbot's own servers: 256 x 50 = 12,800; PostgreSQL's defaults: 64 x 100 = 6,400
)


def _lock_slots(engine: Engine) -> int:
    """The size of the server's shared lock table (max_locks_per_transaction x sessions)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT current_setting('max_locks_per_transaction')::int * (current_setting('max_connections')::int"
                    " + current_setting('max_prepared_transactions')::int)"
                )
            ).scalar_one()
        )


def relocated(project: Project, script: ScriptDirectory, run: RunRecord) -> Project:
    """The project as env.py's version_locations show it: the revisions and heads that really ran."""
    now = describe_script(script, project.config_file)
    log.debug(
        "env.py replaced the version locations: %d revision(s), heads %s (alembic.ini's: %d, heads %s)",
        len(now.revisions),
        ", ".join(now.heads) or "none",
        len(project.revisions),
        ", ".join(project.heads) or "none",
    )
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
    keys = chain_keys(project, env_files, baseline_bytes(settings.baseline, project), server.major)
    cache = SnapshotCache.from_env()
    # copies on the server only where this run may write the cache itself (not the action's worker)
    databases = SnapshotDatabases.for_server(server) if cache.store_root == cache.root else None
    return ProjectSnapshots(cache, keys, depth(project), bindir, databases), ""


def _restore(snapshots: ProjectSnapshots, url: URL) -> str | None:
    try:
        return snapshots.restore_deepest(url)
    except (SnapshotError, OSError) as exc:  # a damaged or foreign archive: run cold
        log.warning("the cached snapshot could not be restored, running every revision: %s", exc)
        return None


def _store(b: _Build, snapshots: ProjectSnapshots, heads: tuple[str, ...], url: URL) -> Callable[[], None]:
    """Keep the heads for later runs: the server copy now, the archive in the background, while the
    models, catalogs and diff go on. The wait returned ends it: called by whoever needs M with no
    connections (Scratch.wait), else when the run's stack closes, before M is dropped (registered
    after M's scratch_database, so it runs first) and before the report says what was stored.
    The "snapshot" stage is the time the run waited: the copy, and the wait for the archive."""
    try:
        pending = snapshots.store_heads(heads, url)
    except (SnapshotError, OSError) as exc:  # a full disk must not fail the check
        log.warning("could not keep a snapshot for later runs: %s", exc)
        return _nothing_pending

    def wait() -> None:
        with b.run.stage("snapshot"):
            stored = pending.wait()
        b.run.cache = replace(b.run.cache or CacheInfo(), stored=stored)

    b.stack.callback(wait)
    return wait


def _nothing_pending() -> None:
    return None


def version_table(options: EnvOptions, default_schema: str) -> frozenset[tuple[str, str]]:
    return frozenset({(options.version_table_schema or default_schema, options.version_table)})


def multiple_heads(project: Project) -> Finding:
    listing = "\n".join(f"{head} ({project.file_of(head)})" for head in project.heads)
    return Finding(
        "multiple_heads",
        "migrations.heads",
        "high",
        migrations=listing,
        models=None,
        detail=f"{len(project.heads)} heads: the branch was probably created from an older "
        "main. Merge them with `alembic merge heads -m merge`.",
        object_type="migrations",
    )
