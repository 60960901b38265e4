"""Database O in a process of its own: the models as a fresh import declares them.

Migrations often import the application's models, and some attach constraints to their tables
while they run; built in the same process after the migrations, the models' database would
declare those twice (and PostgreSQL would reject the table). So O is built by a child process
that imports nothing but env.py's `target_metadata` (or `--metadata`), never the revision
files: it runs env.py until `context.configure()` and stops there.

Two modes: `plain` (one `create_all` per MetaData in one transaction, started while the
migrations run: the common case costs no time) and `careful` (after the migrations, with the
extensions and schemas they installed, object by object: what PostgreSQL rejects becomes a
`model_rejected` finding). The child gets its database URL on stdin (argv is world-readable)
and writes its result as JSON to a file.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import subprocess
import sys
import tempfile
from contextlib import ExitStack, chdir, redirect_stdout
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import dacite
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine, make_url

from driftbot.compare.catalog import EMPTY_CATALOG, Catalog
from driftbot.compare.findings import Finding
from driftbot.errors import ConfigError, ProjectError
from driftbot.project.models_ddl import execute_all, remainder, rendered
from driftbot.runtime import project_bytecode
from driftbot.safety import containment
from driftbot.safety.containment import Redirect, contained, engine_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelsRequest:
    alembic_ini: str
    metadata_spec: str | None
    url: str  # O, with its password: travels on stdin only
    env_vars: tuple[str, ...]
    bytecode: str | None = None  # where the project's modules compile to (runtime.project_bytecode)
    careful: bool = False
    chunk: int = 0  # plain mode: tables per transaction (0: all in one), for servers with a small lock table
    extensions: tuple[tuple[str, str], ...] = ()  # (name, schema) that the migrations installed
    schemas: tuple[str, ...] = ()
    collations: tuple[tuple[str, str], ...] = ()  # (schema, CREATE COLLATION) of the migrations' (careful mode)
    script_location: str | None = None  # --script-location
    flask_app: str | None = None  # --flask-app: env.py runs inside the application's app_context()
    listed: bool = False  # plain mode: build from the rendered statements (models_ddl.py), report them
    kept: tuple[tuple[str, str], ...] = ()  # (key, statements file) of kept builds that may stand in (listed)


@dataclass(frozen=True)
class ModelsResult:
    built: bool  # plain: create_all succeeded; careful: always (rejected objects are findings)
    rejected: tuple[Finding, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    error: str | None = None  # why the models could not be imported or built
    hint: str = ""  # what to do about it (a ProjectError's hint)
    declared: tuple[tuple[str, str], ...] = ()  # (type, path) of the objects alembic_utils & co. declare
    statements: tuple[str, ...] = ()  # listed: what the build is, statement by statement
    reuse: str = ""  # listed: the key of a kept build holding part of `statements`; O is still empty then
    remainder: tuple[str, ...] = ()  # what a copy of `reuse` lacks, in build order


class ModelsBuild:
    """The child process building O. Spawned at the start of a run: its imports (SQLAlchemy, Alembic,
    driftbot's modules: a second) overlap the server's start and the migrations; `start()` hands it
    its request once O exists, `result()` waits for it."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="driftbot-models-")
        self._output = Path(self._dir.name) / "result.json"
        self._log = Path(self._dir.name) / "stderr.log"  # a file: a chatty env.py never blocks on a full pipe
        self.started = False
        with self._log.open("w") as log_file:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "driftbot.project.models_process", str(self._output)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                text=True,
            )

    def start(self, request: ModelsRequest) -> None:
        assert self._proc.stdin is not None and not self.started
        self.started = True
        with self._proc.stdin as stdin:
            stdin.write(json.dumps(dataclasses.asdict(request)))

    def result(self) -> ModelsResult:
        try:
            code = self._proc.wait()
            if not self._output.exists():
                stderr = self._log.read_text(errors="replace").strip()[-2000:]
                return ModelsResult(False, error=f"the models' build exited with {code}: {stderr}")
            data = json.loads(self._output.read_text())
            return dacite.from_dict(ModelsResult, data, config=dacite.Config(cast=[tuple], strict=True))
        finally:
            self._dir.cleanup()

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()


def build(request: ModelsRequest) -> ModelsResult:
    """Run the models' build in a child process and wait for it."""
    child = ModelsBuild()
    child.start(request)
    return child.result()


# --- the child -----------------------------------------------------------------------------------


class _Configured(Exception):
    """Raised from configure(): env.py has named its target_metadata, nothing more is run."""


def _metadata_from_env_py(request: ModelsRequest) -> tuple[MetaData, ...]:
    from driftbot.project.locate import alembic_config, resolve_script_location
    from driftbot.project.migrate import flask_app_context, metadata_tuple, pointed_at, run_env
    from driftbot.project.projectlog import project_logging

    cfg = alembic_config(Path(request.alembic_ini))
    resolve_script_location(
        cfg, Path(request.alembic_ini), Path(request.script_location) if request.script_location else None
    )
    script = ScriptDirectory.from_config(cfg)  # never walks the revision files: they may change the models
    seen: dict[str, Any] = {}
    env = EnvironmentContext(cfg, script, fn=lambda rev, context: [])

    def configure(*args: Any, **kw: Any) -> None:
        seen["metadata"] = kw.get("target_metadata")
        seen["configured"] = True
        raise _Configured

    env.configure = configure  # type: ignore[method-assign]
    url = make_url(request.url)
    with ExitStack() as stack:
        try:
            # no database while the application is created: one that migrates itself at start (ihatemoney's
            # create_app runs flask_migrate.upgrade()) must not turn the models' database into the migrations'
            stack.enter_context(flask_app_context(request.flask_app, None, Path(request.alembic_ini).parent.resolve()))
        except ProjectError as exc:
            return _flask_sqlalchemy_instead(exc)
        try:
            with pointed_at(cfg, url, request.env_vars), project_logging(), env:
                run_env(script, cfg, url, lambda: "configured" in seen)
        except _Configured:
            pass
    if "configured" not in seen:
        raise ProjectError("env.py never called context.configure()")
    return metadata_tuple(seen["metadata"])


def _flask_sqlalchemy_instead(failed: ProjectError) -> tuple[MetaData, ...]:
    """The application cannot be created without its database: the metadata Flask-Migrate's env.py would
    read (`current_app.extensions["migrate"].db.metadata`), from the one Flask-SQLAlchemy `db` that the
    application's modules, imported by then, hold."""
    found = flask_sqlalchemy_dbs()
    if len(found) != 1:
        what = "no Flask-SQLAlchemy db" if not found else f"{len(found)} Flask-SQLAlchemy db objects"
        raise ProjectError(
            f"{failed.message} (the models' database is built with no database for the application, and "
            f"its modules hold {what} to take the metadata from)",
            hint="pass --metadata module:db (the Flask-SQLAlchemy object or a MetaData)",
        ) from failed
    ((where, db),) = found.items()
    log.warning(
        "the application cannot be created without a database (%s); the models are %s.metadata", failed.message, where
    )
    from driftbot.project.migrate import metadata_tuple

    return metadata_tuple(db)  # its `metadata`: the default bind's, as Flask-Migrate's get_metadata() takes it


def load_metadata(spec: str) -> tuple[MetaData, ...]:
    """`module:attr` → the MetaData (or list of MetaData, or declarative Base) it names (`--metadata`)."""
    from driftbot.project.locate import describe_exception
    from driftbot.project.migrate import metadata_tuple

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


def flask_sqlalchemy_dbs() -> dict[str, Any]:
    """module:name of each distinct flask_sqlalchemy.SQLAlchemy object held by an imported module."""
    cls = getattr(sys.modules.get("flask_sqlalchemy"), "SQLAlchemy", None)
    if not isinstance(cls, type):
        return {}
    found: dict[int, tuple[str, Any]] = {}
    for module_name, module in sorted(sys.modules.copy().items()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if isinstance(value, cls) and id(value) not in found:
                found[id(value)] = (f"{module_name}:{name}", value)
    return dict(found.values())


def _build(request: ModelsRequest) -> ModelsResult:
    from driftbot.project.declared import Declared, create_declared, declarations, object_keys
    from driftbot.project.locate import describe_exception
    from driftbot.project.models_db import create_models, prepare_models_database

    root = Path(request.alembic_ini).parent.resolve()
    url = make_url(request.url)
    bytecode = Path(request.bytecode) if request.bytecode is not None else None
    with chdir(root), redirect_stdout(sys.stderr), project_bytecode(bytecode):
        sys.path.insert(0, str(root))
        try:
            with contained("models", url, root):
                metadatas = (
                    load_metadata(request.metadata_spec) if request.metadata_spec else _metadata_from_env_py(request)
                )
        except Exception as exc:
            hint = getattr(exc, "hint", "") or ""
            error = describe_exception(exc, (root,)).removesuffix("\n" + hint if hint else "")  # the hint goes apart
            return ModelsResult(
                False, error=f"importing the models failed: {error}", redirects=containment.redirects(), hint=hint
            )
        migrated = replace(EMPTY_CATALOG, extensions=request.extensions, schemas=request.schemas)
        made = declarations(metadatas)
        declared = Declared((), ())
        with engine_for(url) as engine:
            if request.listed and not request.careful and not request.chunk and not made:
                listed = _listed_build(engine, request, metadatas, migrated)
                if listed is not None:
                    return listed
            try:
                with engine.begin() as conn:
                    default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
                    prepare_models_database(conn, metadatas, migrated, default_schema, request.collations)
                    before = object_keys(conn) if made else set()
                    if request.careful:
                        rejected = tuple(create_models(conn, metadatas, default_schema))
                    elif not request.chunk:
                        for metadata in metadatas:
                            metadata.create_all(conn)
                        rejected = ()
                if request.chunk and not request.careful:
                    _create_in_chunks(engine, metadatas, request.chunk)
                    rejected = ()
                if made:
                    with engine.begin() as conn:
                        declared = create_declared(conn, made, before)
            except Exception as exc:
                return ModelsResult(False, error=describe_exception(exc, (root,)), redirects=containment.redirects())
    return ModelsResult(True, rejected + declared.rejected, containment.redirects(), declared=declared.keys)


def _listed_build(
    engine: Engine, request: ModelsRequest, metadatas: tuple[MetaData, ...], migrated: Catalog
) -> ModelsResult | None:
    """The plain build as its list of statements: the kept build that holds the most of them and what it
    lacks, or else the database built from the list. None: the models build with `create_all` as ever."""
    from driftbot.project.models_db import prepare_models_database

    with engine.connect() as conn:
        default_schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        prepare = partial(prepare_models_database, migrations_catalog=migrated, collations=request.collations)
        statements = rendered(conn.dialect, metadatas, default_schema, prepare)
    if statements is None:
        return None
    best = _deepest_kept(request.kept, statements)
    if best is not None:
        key, rest = best
        return ModelsResult(True, (), containment.redirects(), statements=statements, reuse=key, remainder=rest)
    try:
        with engine.begin() as conn:
            execute_all(conn, statements)
    except Exception as exc:  # a type two MetaData share, say: create_all looks first, the list does not
        log.debug("building the models from their statements failed (%s): create_all instead", exc)
        return None
    return ModelsResult(True, (), containment.redirects(), statements=statements)


def _deepest_kept(kept: tuple[tuple[str, str], ...], statements: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """(key, remainder) of the kept build that leaves the fewest statements to run."""
    best: tuple[str, tuple[str, ...]] | None = None
    for key, path in kept:
        try:
            listed = json.loads(Path(path).read_text(encoding="utf-8"))["statements"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("kept build %s unreadable: %s", key, exc)
            continue
        rest = remainder(listed, statements) if isinstance(listed, list) else None
        if rest is not None and (best is None or len(rest) < len(best[1])):
            best = (key, rest)
    return best


def _create_in_chunks(engine: Engine, metadatas: tuple[MetaData, ...], chunk: int) -> None:
    """`create_all`, a slice of the dependency-sorted tables per transaction: each holds few locks."""
    for metadata in metadatas:
        tables = metadata.sorted_tables
        for start in range(0, len(tables), chunk):
            with engine.begin() as conn:
                metadata.create_all(conn, tables=tables[start : start + chunk])


def _preload() -> None:
    """What every build imports, loaded while the parent still prepares the request."""
    import driftbot.project.declared
    import driftbot.project.locate
    import driftbot.project.migrate
    import driftbot.project.models_db
    import driftbot.project.projectlog  # noqa: F401


def main(argv: list[str]) -> int:
    _preload()
    sent = sys.stdin.read()
    if not sent:  # the run ended before it needed the models
        return 0
    request = dacite.from_dict(ModelsRequest, json.loads(sent), config=dacite.Config(cast=[tuple]))
    result = _build(request)
    Path(argv[0]).write_text(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    from driftbot.runtime import exit_now, tune_gc

    tune_gc()
    exit_now(main(sys.argv[1:]))  # the result file is written: the models' teardown is nobody's wait
