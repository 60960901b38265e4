"""Stage 2: run the project's own env.py to `upgrade heads` on database M.

The project's env.py is run exactly as `alembic upgrade` runs it (through an
EnvironmentContext), with one addition: `configure()` is observed, so driftbot learns the
`target_metadata`, `include_name`/`include_object` hooks and version table that env.py
configured, and records each applied revision through `on_version_apply`.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alembic import util as alembic_util
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import RevisionStep
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionMap
from sqlalchemy import MetaData
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from driftbot.errors import ConfigError, MigrationError, ProjectError
from driftbot.project.locate import Project, describe_exception, user_frame
from driftbot.project.projectlog import captured, project_logging, quoted
from driftbot.safety.containment import contained, engine_for
from driftbot.safety.masking import scrub

log = logging.getLogger(__name__)

IncludeName = Callable[[str | None, str, dict[str, Any]], bool]
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


@dataclass(frozen=True)
class AppliedRevision:
    revision: str
    file: str
    seconds: float


@dataclass(frozen=True)
class MigrationFailure:
    revision: str
    file: str
    line: int | None
    error: str
    log: tuple[str, ...] = ()  # its last lines of output (projectlog.py), masked; empty with --verbose


@dataclass(frozen=True)
class MigrationRun:
    applied: tuple[AppliedRevision, ...]
    failure: MigrationFailure | None
    seconds: float


@dataclass
class EnvOptions:
    """What the project's env.py passed to `context.configure()` (live objects, not data)."""

    target_metadata: tuple[MetaData, ...] = ()
    include_name: IncludeName | None = None
    include_object: IncludeObject | None = None
    include_schemas: bool = False
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    # env.py replaced `context.script.version_locations` while it ran: the revisions it then saw
    # are not those of alembic.ini's locations (describe the script again, see relocated())
    version_locations: tuple[str, ...] | None = None


UNDO_PREFIX = "undo:"


@dataclass
class _Recorder:
    destination: str
    script: ScriptDirectory
    downgrade: bool = False
    configured: EnvOptions | None = None
    planned: list[str] = field(default_factory=list)
    applied: list[AppliedRevision] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    mark: float = 0.0
    on_configured: Callable[[EnvOptions], None] | None = None
    locations: tuple[str, ...] = ()  # the script's version_locations when the project was described
    relocated: tuple[str, ...] | None = None  # env.py's, when it replaced them

    def plan(self, rev: Any, context: Any) -> Any:
        if refresh_revisions(self.script, self.locations):
            self.relocated = tuple(str(p) for p in self.script.version_locations)
            self.files = {s.revision: str(Path(s.path).resolve()) for s in self.script.walk_revisions()}
        if self.destination.startswith(UNDO_PREFIX):
            # downgrade exactly one revision, a merge point included (`<merge>-1` is ambiguous)
            undo = self.script.get_revision(self.destination.removeprefix(UNDO_PREFIX))
            steps = [RevisionStep(self.script.revision_map, undo, False)]
        else:
            revs = self.script._downgrade_revs if self.downgrade else self.script._upgrade_revs
            steps = revs(self.destination, rev)
        self.planned = [step.revision.revision for step in steps]
        self.mark = time.perf_counter()
        return steps

    def on_version_apply(self, *, step: Any, **_: Any) -> None:
        now = time.perf_counter()
        for revision in step.up_revision_ids:
            self.applied.append(AppliedRevision(revision, self.files.get(revision, ""), round(now - self.mark, 4)))
        self.mark = now


def refresh_revisions(script: ScriptDirectory, locations: Sequence[str]) -> bool:
    """Reload the revision map if env.py replaced `script.version_locations` since `locations`.

    `context.script.version_locations = [...]` in env.py (prefect picks versions/postgresql/ or
    versions/sqlite/ by dialect) comes after the revisions were loaded from alembic.ini's
    locations; alembic memoizes both, so without this `upgrade heads` runs 0 revisions.
    """
    current = tuple(str(p) for p in script.version_locations)
    if current == tuple(str(p) for p in locations):
        return False
    for memo in ("_version_locations", "_singular_version_location"):
        script.__dict__.pop(memo, None)
    script.revision_map = RevisionMap(script._load_revisions)
    log.debug("env.py set version_locations to %s: revisions reloaded from there", ", ".join(current))
    return True


def _observed_environment(cfg: Config, script: ScriptDirectory, recorder: _Recorder) -> EnvironmentContext:
    """An EnvironmentContext whose `configure()` also tells driftbot what env.py configured.

    The wrapper is set on the instance: `from alembic import context` proxies to the
    instance's attributes, so env.py calls it like the original.
    """
    env = EnvironmentContext(cfg, script, fn=recorder.plan)
    original = env.configure

    def configure(*args: Any, **kw: Any) -> None:
        hooks = alembic_util.to_tuple(kw.get("on_version_apply"), default=())
        kw["on_version_apply"] = (*hooks, recorder.on_version_apply)
        original(*args, **kw)
        opts = env.context_opts
        recorder.configured = EnvOptions(
            target_metadata=metadata_tuple(opts.get("target_metadata")),
            include_name=opts.get("include_name"),
            include_object=opts.get("include_object"),
            include_schemas=bool(opts.get("include_schemas")),
            version_table=opts.get("version_table") or "alembic_version",
            version_table_schema=opts.get("version_table_schema"),
        )
        if recorder.on_configured is not None:
            recorder.on_configured(recorder.configured)
            recorder.on_configured = None  # once, even if env.py configures several times

    env.configure = configure  # type: ignore[method-assign]
    return env


def metadata_tuple(value: object) -> tuple[MetaData, ...]:
    if value is None:
        return ()
    if isinstance(value, MetaData):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(m, MetaData) for m in value):
        return tuple(value)
    metadata = getattr(value, "metadata", None)  # a declarative Base
    if isinstance(metadata, MetaData):
        return (metadata,)
    raise ConfigError(f"target_metadata must be a MetaData or a list of MetaData, not {value!r}")


def scratch_url_for(cfg: Config, url: URL) -> URL:
    """The scratch URL with the project's own PostgreSQL driver (asyncpg, psycopg2, ...)."""
    configured = cfg.get_main_option("sqlalchemy.url") or ""
    driver = configured.split("://", 1)[0] if "://" in configured else ""
    return url.set(drivername=driver) if driver.startswith("postgresql") else url


@contextmanager
def pointed_at(cfg: Config, url: URL, env_vars: Sequence[str]) -> Iterator[None]:
    """Point sqlalchemy.url and the project's URL environment variables at `url`."""
    rendered = url.render_as_string(hide_password=False)
    saved = {name: os.environ.get(name) for name in env_vars}
    cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    os.environ.update({name: rendered for name in env_vars})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_env(script: ScriptDirectory, cfg: Config, url: URL, configured: Callable[[], bool]) -> None:
    """`script.run_env()`, adapted to env.py files that only run the way their application runs them.

    Some env.py files only work inside an AnyIO/asyncio worker thread (they call
    `anyio.from_thread.run`), or only with a connection in `config.attributes["connection"]`
    (they are always called from application code). If env.py fails that way before it
    configured the context (so no revision ran), it is run again the way it expects.
    """
    try:
        script.run_env()
        return
    except Exception as exc:
        if configured():
            raise
        if _wants_event_loop_thread(exc):
            log.debug("env.py needs an event loop's worker thread (%s): running it in one", exc)
            _in_event_loop_thread(script.run_env)
        elif isinstance(exc, KeyError) and exc.args == ("connection",):
            log.debug("env.py takes config.attributes['connection']: handing it one")
            _with_connection(script, cfg, url)
        else:
            raise


def _wants_event_loop_thread(exc: BaseException) -> bool:
    message = str(exc).lower()
    return type(exc).__name__ == "NoEventLoopError" or (
        isinstance(exc, RuntimeError)
        and (
            "no running event loop" in message
            or "no current event loop" in message
            or "not running in a worker thread" in message
        )
    )


def _in_event_loop_thread(fn: Callable[[], None]) -> None:
    try:
        import anyio
        import anyio.to_thread
    except ImportError:  # asyncio alone: its default executor's thread, with the loop running
        import asyncio

        asyncio.run(asyncio.to_thread(fn))
        return
    anyio.run(anyio.to_thread.run_sync, fn)


def _with_connection(script: ScriptDirectory, cfg: Config, url: URL) -> None:
    with engine_for(url) as engine:
        with engine.connect() as connection:
            cfg.attributes["connection"] = connection
            try:
                script.run_env()
            finally:
                del cfg.attributes["connection"]
            connection.commit()


def database_error_text(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"{type(exc.orig).__name__}: {str(exc.orig).strip()}"
        if exc.statement:
            text += f"\nSQL: {exc.statement.strip()}"
        return text
    return f"{type(exc).__name__}: {exc}"


def upgrade(
    project: Project,
    cfg: Config,
    script: ScriptDirectory,
    url: URL,
    env_vars: Sequence[str],
    destination: str = "heads",
    downgrade: bool = False,
    on_configured: Callable[[EnvOptions], None] | None = None,
    step: str = "migrate",
    ready: Callable[[], object] | None = None,
) -> tuple[MigrationRun, EnvOptions]:
    """Run `upgrade <destination>` (or `downgrade`) through the project's env.py against `url`.

    `on_configured` is called as soon as env.py has configured the context, before any
    revision runs: the engine starts building the models' database then. Every connection the
    project's code opens goes to `url` (containment.py), whatever URL it built; `step` names the
    step in the report when it asked for another database; `ready` is waited for before the first
    connection (the database may still be being restored while env.py imports the models).

    Raises ProjectError when env.py itself fails; a failing revision is returned as
    `MigrationRun.failure` (with the revisions that ran before it) and raised by the caller.
    """
    recorder = _Recorder(
        destination,
        script,
        downgrade,
        files={r.revision: r.file for r in project.revisions},
        on_configured=on_configured,
        locations=tuple(str(p) for p in script.version_locations),
    )
    started = time.perf_counter()
    failure: MigrationFailure | None = None
    with pointed_at(cfg, scratch_url_for(cfg, url), env_vars), project_logging() as output:
        try:
            with _observed_environment(cfg, script, recorder), contained(step, url, project.root, ready):
                run_env(script, cfg, url, lambda: recorder.configured is not None)
        except Exception as exc:
            if not recorder.planned:
                raise _env_failure(project, recorder, exc, output.tail()) from exc
            failed = recorder.planned[min(len(recorder.applied), len(recorder.planned) - 1)]
            where = user_frame(exc, (project.script_location,))
            failure = MigrationFailure(
                failed,
                recorder.files.get(failed) or project.file_of(failed),
                where[1] if where else None,
                scrub(database_error_text(exc)),
                output.tail(),
            )
            log.debug("revision %s failed", failed, exc_info=exc)
    if recorder.configured is None:
        raise ProjectError(f"{project.script_location / 'env.py'} never called context.configure()")
    run = MigrationRun(tuple(recorder.applied), failure, round(time.perf_counter() - started, 4))
    if recorder.relocated is not None:
        return run, replace(recorder.configured, version_locations=recorder.relocated)
    return run, recorder.configured


def _env_failure(project: Project, recorder: _Recorder, exc: Exception, log_tail: tuple[str, ...]) -> ProjectError:
    env_py = project.script_location / "env.py"
    what = "env.py (or the models it imports)" if recorder.configured is None else "env.py"
    hint = f"fix the error above; driftbot runs {env_py} as `alembic upgrade` does"
    if needs_flask_app(exc):
        hint = FLASK_APP_HINT
    return ProjectError(
        f"{what} failed: {describe_exception(exc, (project.root,))}" + quoted(log_tail, "env.py"), hint=hint
    )


FLASK_APP_HINT = (
    "env.py needs a Flask application context (Flask-Migrate's env.py reads current_app): "
    "pass --flask-app module:create_app (or module:app), which driftbot imports, calls if it is "
    "a factory, and runs env.py inside its app_context()"
)


def needs_flask_app(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "outside of application context" in str(exc)


@contextmanager
def flask_app_context(spec: str | None, url: URL | None, root: Path) -> Iterator[None]:
    """`--flask-app module:app_or_factory`: the application's `app_context()`, pushed while it lasts.

    Flask-Migrate's env.py reads `current_app.config` and `current_app.extensions["migrate"]`; the
    project's own `flask db upgrade` runs it inside the application's context. The application is
    imported (and a factory called) with every connection going to `url`, like any project code.
    """
    if not spec:
        yield
        return
    try:
        import flask
    except ImportError as exc:
        raise ConfigError(
            f"--flask-app {spec}: Flask is not importable in driftbot's environment",
            hint="install driftbot into the application's own virtualenv (where Flask is)",
        ) from exc
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise ConfigError(f"--flask-app {spec!r}: expected module:app or module:create_app")
    try:
        with contained("flask-app", url, root), captured():  # create_app may log, or configure logging
            value: object = importlib.import_module(module_name)
            if attr:
                for part in attr.removesuffix("()").split("."):
                    value = getattr(value, part)
            else:  # as `flask --app module` looks: an app, then a factory
                names = ("app", "application", "create_app", "make_app")
                found = [getattr(value, n) for n in names if hasattr(value, n)]
                if not found:
                    raise ConfigError(
                        f"--flask-app {spec}: {module_name} has none of {', '.join(names)}",
                        hint="name it: --flask-app module:create_app",
                    )
                value = found[0]
            app = value if isinstance(value, flask.Flask) or not callable(value) else value()
    except ConfigError:
        raise
    except Exception as exc:
        raise ProjectError(f"--flask-app {spec} failed: {describe_exception(exc, (root,))}") from exc
    if not isinstance(app, flask.Flask):
        raise ConfigError(f"--flask-app {spec}: {type(app).__name__} is not a Flask application")
    log.debug("--flask-app %s: running inside %r's app_context()", spec, app)
    with app.app_context():
        yield


def raise_for_failure(run: MigrationRun, project: Project, baseline: bool = False) -> None:
    if run.failure is None:
        return
    f = run.failure
    where = f"{f.file}:{f.line}" if f.line else f.file
    hint = "fix the migration, then run driftbot again"
    first = project.revisions[0].revision if project.revisions else None
    missing = next((kind for kind in ("UndefinedTable", "UndefinedColumn", "UndefinedObject") if kind in f.error), None)
    if missing:
        which = "the first revision" if f.revision == first else f"revision {f.revision}"
        what = {"UndefinedTable": "tables", "UndefinedColumn": "columns"}.get(missing, "objects")
        hint = (
            f"{which} expects {what} that no earlier revision creates: if your application creates a base "
            "schema before it runs the migrations (or stamps them), pass --baseline FILE.sql, "
            "--baseline module:callable(connection) or --baseline module:MetaData (a MetaData or a "
            "declarative Base, created with create_all) to prepare the empty database first"
        )
    if baseline and any(kind in f.error for kind in ("DuplicateTable", "DuplicateColumn", "DuplicateObject")):
        which = "the first revision" if f.revision == first else f"revision {f.revision}"
        hint = (
            f"{which} creates what the --baseline already has: the baseline must be the schema as it was "
            "before the first revision, not the current models (an application that builds new databases "
            "from its current models and stamps the head has no such schema, and its migrations cannot be "
            "checked from empty)"
        )
    if "out of shared memory" in f.error:
        hint = (
            "the server ran out of lock slots, not the migration: one transaction locks every table it "
            "touches; raise max_locks_per_transaction on the server (driftbot's own servers use 256)"
        )
    raise MigrationError(
        f"revision {f.revision} ({where}) failed: {f.error}" + quoted(f.log, f"revision {f.revision}"), hint=hint
    )
