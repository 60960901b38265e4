"""Containment (DESIGN.md §2a): while project code runs, every connection goes to a scratch database.

The project's env.py, revision files and models decide themselves where to connect: they read
their own variables, settings objects and `.env` files, cache engines at import, and may fall
back to SQLite. So driftbot does not ask them to use the scratch database; it makes every
connection go there, by construction:

- every SQLAlchemy engine driftbot did not create itself, sync or async, whatever URL it was
  built from and whenever (at import, cached, pooled), is connected to the database of the
  current step by a `do_connect` hook registered for all engines; the project's PostgreSQL
  driver is kept; a SQLite URL gets a PostgreSQL dialect and the scratch database;
- pools of the project's engines are disposed when a step ends, so nothing cached in one step
  reaches the next step's database;
- a raw driver connection (`psycopg.connect`, `psycopg2.connect`, `asyncpg.connect`,
  `pg8000.connect`) that does not go to the step's database cannot be routed and is refused
  before it is opened, with the file that asked and the (password-free) target;
- what project code asked for is recorded, so the report can say where it tried to go.

Outside a step (driftbot's own work, the live database's read-only session) nothing is changed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import socket
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import URL, Dialect, Engine, make_url
from sqlalchemy.pool import NullPool

from driftbot.errors import ProjectError

log = logging.getLogger(__name__)

# the connection parameters that say where a connection goes (all drivers' spellings)
_TARGET_KEYS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "user",
        "password",
        "dbname",
        "database",
        "dsn",
        "service",
        "servicefile",
        "passfile",
        "target_session_attrs",
    }
)
_SQLITE_NAMES = ("sqlite", "sqlite.pysqlite", "sqlite.aiosqlite", "sqlite.pysqlcipher")
_REQUESTED = "driftbot_requested"  # carries a rerouted SQLite URL from create_connect_args to do_connect


@dataclass(frozen=True)
class Redirect:
    """Project code asked for another database; driftbot connected it to its scratch database."""

    step: str
    requested: str  # never with a password
    where: str  # file:line of the project code that connected ("" if none of its frames was found)
    variables: tuple[str, ...] = ()  # environment variables whose value names the requested database


class ConnectionRefused(ProjectError):
    """A connection project code opened past SQLAlchemy's engines, to anything but the scratch database."""

    stage = "containment"


@dataclass
class _Step:
    name: str
    target: URL | None  # None: this step has no database (env.py run offline)
    root: Path | None
    redirects: list[Redirect] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ready: Callable[[], object] | None = None  # waited for before the step's first connection


@dataclass
class _Router:
    step: _Step | None = None
    trusted: weakref.WeakSet[Dialect] = field(default_factory=weakref.WeakSet)
    engines: weakref.WeakSet[Engine] = field(default_factory=weakref.WeakSet)
    redirects: list[Redirect] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_router = _Router()
_raw = threading.local()  # set while a trusted engine's own connection is opened


def own_engine(url: URL, **kw: Any) -> Engine:
    """An engine of driftbot's own (never rerouted); no pool: scratch databases are copied as templates."""
    engine = create_engine(url, poolclass=NullPool, **kw)
    _router.trusted.add(engine.dialect)
    return engine


@contextmanager
def engine_for(url: URL, **kw: Any) -> Iterator[Engine]:
    """`own_engine` for one `with`: disposed after it, so no connection outlives the step (a database
    with a connection open cannot be copied as a template, nor dropped)."""
    engine = own_engine(url, **kw)
    try:
        yield engine
    finally:
        engine.dispose()


def reset() -> None:
    """Forget what earlier runs in this process recorded."""
    _router.redirects.clear()


def record(found: Iterable[Redirect]) -> None:
    """Redirects another process of this run saw (the models' build)."""
    _router.redirects.extend(found)


def redirects() -> tuple[Redirect, ...]:
    """Every redirect of this run, once each (the same request in several steps counts per step)."""
    return tuple(dict.fromkeys(_router.redirects))


@contextmanager
def contained(
    step: str, target: URL | None, root: Path | None = None, ready: Callable[[], object] | None = None
) -> Iterator[None]:
    """Run project code with every connection it opens going to `target` (None: refused).

    `ready` is called (and must not raise) before each connection is opened: the target may still be
    being prepared while project code imports its modules. Raises ConnectionRefused afterwards if
    project code opened a connection that could not be routed, even if the project caught the error.
    """
    _install()
    current = _Step(step, target, root, ready=ready)
    with _router.lock:
        outer, _router.step = _router.step, current
    try:
        yield
    finally:
        with _router.lock:
            _router.step = outer
        _dispose_project_engines()
        _router.redirects.extend(current.redirects)
    if current.refused:
        raise ConnectionRefused(
            current.refused[0],
            hint="open connections through SQLAlchemy (driftbot routes those to its scratch "
            "database), or read the URL from sqlalchemy.url / DATABASE_URL",
        )


# --- the hooks ---------------------------------------------------------------------------------


@cache
def _install() -> None:
    """Register the hooks once per process; they do nothing outside a step."""
    event.listen(Engine, "do_connect", _route)
    event.listen(Engine, "engine_connect", _track)
    for name in _SQLITE_NAMES:
        registry.register(name, __name__, "SQLiteAsPostgreSQL")
    _guard_drivers()


class SQLiteAsPostgreSQL(PGDialect_psycopg):
    """A SQLite URL in project code: PostgreSQL's dialect, so it can run on the scratch database."""

    supports_statement_cache = True
    # SQLAlchemy validates a table's `sqlite_*` arguments against the class registered as "sqlite":
    # this one, now; models that pass them (sqlite_autoincrement=True) must still import
    construct_arguments = SQLiteDialect.construct_arguments

    def create_connect_args(self, url: URL) -> Any:
        if url.get_backend_name() == "postgresql":  # the step's database, in _route
            return super().create_connect_args(url)  # type: ignore[no-untyped-call]
        return [], {_REQUESTED: url.render_as_string(hide_password=True)}


def _route(dialect: Dialect, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    if dialect in _router.trusted:
        _raw.trusted = True  # driftbot's own engine: its raw connection passes the driver guard
        try:
            return dialect.connect(*cargs, **cparams)
        finally:
            _raw.trusted = False
    step = _router.step
    if step is None:
        if _REQUESTED in cparams:
            raise ConnectionRefused(
                f"{cparams[_REQUESTED]} is not PostgreSQL; outside a driftbot step it cannot be connected anywhere"
            )
        return None
    if step.ready is not None:
        step.ready()
    rerouted = cparams.pop(_REQUESTED, None)  # a SQLite URL: none of its parameters mean anything here
    requested = rerouted or _describe(dialect, cparams)
    if step.target is None:
        _refuse(step, requested, "this step runs without a database")
    assert step.target is not None
    if dialect.name != "postgresql":
        _refuse(step, requested, f"driftbot can only route PostgreSQL connections, not {dialect.name}")
    new_cargs, new_cparams = dialect.create_connect_args(step.target.set(drivername=f"postgresql+{dialect.driver}"))
    if not _same_database(requested, step.target):
        step.redirects.append(Redirect(step.name, requested, _project_frame(step.root), _variables_naming(requested)))
    kept = {} if rerouted else {k: v for k, v in cparams.items() if k not in _TARGET_KEYS}
    cargs[:] = list(new_cargs)
    cparams.clear()
    cparams.update(kept | dict(new_cparams))
    return None


def _track(conn: Any) -> None:
    if conn.engine.dialect not in _router.trusted:
        _router.engines.add(conn.engine)


def _dispose_project_engines() -> None:
    """Pooled connections of a finished step must not serve the next step's code."""
    for engine in list(_router.engines):
        try:
            # an async driver's connections belong to an event loop that has ended: drop, don't close
            engine.dispose(close=not engine.dialect.is_async)
        except Exception as exc:  # a broken pool must not fail the run
            log.debug("disposing a project engine failed: %s", exc)
    _router.engines.clear()


def _describe(dialect: Dialect, cparams: dict[str, Any]) -> str:
    url = URL.create(
        f"{dialect.name}+{dialect.driver}",
        username=cparams.get("user"),
        host=cparams.get("host"),
        port=_port(cparams.get("port")),
        database=cparams.get("dbname") or cparams.get("database"),
    )
    return url.render_as_string(hide_password=True)


def _port(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _same_database(requested: str, target: URL) -> bool:
    try:
        url = make_url(requested)
    except Exception:
        return False
    return (
        url.database == target.database
        and _same_host(url.host, target.host)
        and (url.port or 5432) == (target.port or 5432)
    )


def _same_host(a: str | None, b: str | None) -> bool:
    if (a or "localhost") == (b or "localhost"):
        return True
    return bool(_addresses(a or "localhost") & _addresses(b or "localhost"))


@cache
def _addresses(host: str) -> frozenset[str]:
    if host.startswith("/"):
        return frozenset({host})
    try:
        return frozenset(str(info[4][0]) for info in socket.getaddrinfo(host, None))
    except OSError:
        return frozenset()


def _refuse(step: _Step, requested: str, why: str) -> None:
    where = _project_frame(step.root)
    message = f"driftbot refused a connection to {requested}" + (f" from {where}" if where else "") + f": {why}"
    step.refused.append(message)
    raise ConnectionRefused(message)


def _project_frame(root: Path | None) -> str:
    """file:line of the innermost frame of project code on the stack."""
    if root is None:
        return ""
    prefix = str(root.resolve()) + os.sep
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(prefix) and f"{os.sep}site-packages{os.sep}" not in frame.filename:
            return f"{os.path.relpath(frame.filename, root)}:{frame.lineno}"
    return ""


def _variables_naming(requested: str) -> tuple[str, ...]:
    """The environment variables from which project code probably built `requested`."""
    try:
        url = make_url(requested)
    except Exception:
        return ()
    names = []
    for name, value in os.environ.items():
        if "://" in value:
            try:
                other = make_url(value)
            except Exception:
                continue
            if other.database == url.database and other.host == url.host:
                names.append(name)
        elif url.database and value == url.database and len(value) >= 3:  # settings built from pieces
            names.append(name)
    return tuple(sorted(names))


HIDDEN_HOST = "driftbot-hidden.invalid"


@contextmanager
def hidden_from_project(url: str) -> Iterator[None]:
    """Project code never learns `url` (the live database) from the environment: every variable that
    holds it, or its password, holds a placeholder instead while driftbot runs (and connects
    through the placeholder go to scratch like every other)."""
    parsed = make_url(url)
    needles = {url, parsed.render_as_string(hide_password=False)}
    if parsed.password and len(str(parsed.password)) >= 4:
        needles.add(str(parsed.password))
    saved = {name: value for name, value in os.environ.items() if any(n in value for n in needles)}
    for name, value in saved.items():
        os.environ[name] = _placeholder(value)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ[name] = value


def _placeholder(value: str) -> str:
    try:
        parsed = make_url(value)
    except Exception:
        return "driftbot-hidden"
    return URL.create(parsed.drivername, host=HIDDEN_HOST, database=parsed.database).render_as_string()


# --- raw driver connections ----------------------------------------------------------------------


def _guard_drivers() -> None:
    """Wrap each driver's connect: what SQLAlchemy routed passes, the rest is checked.

    Drivers are never imported here (an extension module imported twice, or a second copy of
    libssl, can crash the process): those already imported are wrapped now, the others when
    something imports them.
    """
    for module_name in _DRIVER_MODULES:
        if module_name in sys.modules:
            _guard_module(module_name)
    sys.meta_path.insert(0, _DriverImports())


def _guard_module(module_name: str) -> None:
    module = sys.modules[module_name]
    for name, attr, target_of in _DRIVERS:
        if name != module_name:
            continue
        owner_name, _, method = attr.rpartition(".")
        owner = getattr(module, owner_name, None) if owner_name else module
        original = getattr(owner, method, None)
        if original is None or getattr(original, "_driftbot_guarded", False):
            continue
        setattr(
            owner, method, _guarded(original, target_of, f"{module_name}.{attr}", classmethod_=isinstance(owner, type))
        )


class _DriverImports(importlib.abc.MetaPathFinder):
    """Guards a driver module right after it is first imported."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _DRIVER_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_guard(module: Any) -> None:
            exec_module(module)
            _guard_module(fullname)

        loader.exec_module = exec_and_guard  # type: ignore[method-assign]
        return spec


def _guarded(
    original: Callable[..., Any], target_of: Callable[..., dict[str, Any]], label: str, classmethod_: bool
) -> Any:
    def connect(*args: Any, **kwargs: Any) -> Any:
        step = _router.step
        if step is not None and not getattr(_raw, "trusted", False):
            _check_raw(step, label, target_of(*(args[1:] if classmethod_ else args), **kwargs))
            if step.ready is not None:
                step.ready()
        return original(*(args[1:] if classmethod_ else args), **kwargs)

    connect._driftbot_guarded = True  # type: ignore[attr-defined]
    return classmethod(connect) if classmethod_ else connect


def _check_raw(step: _Step, label: str, params: dict[str, Any]) -> None:
    """Only the step's own database on the scratch server; libpq's defaults filled in as libpq would."""
    env = os.environ
    host = str(params.get("host") or env.get("PGHOST") or "localhost")
    port = _port(params.get("port") or env.get("PGPORT")) or 5432
    user = params.get("user") or env.get("PGUSER") or ""
    dbname = str(params.get("dbname") or params.get("database") or env.get("PGDATABASE") or user)
    requested = URL.create("postgresql", username=user or None, host=host, port=port, database=dbname).render_as_string(
        hide_password=True
    )
    target = step.target
    if target is None:
        _refuse(step, requested, f"{label} while this step runs without a database")
    assert target is not None
    if not _same_database(requested, target):
        _refuse(
            step,
            requested,
            f"{label} goes past SQLAlchemy's engines, so driftbot cannot route it to its scratch database",
        )


def _libpq_params(conninfo: str = "", **kwargs: Any) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        params: dict[str, Any] = conninfo_to_dict(conninfo or "")
    except Exception:
        params = {}
    params.update({k: v for k, v in kwargs.items() if k in _TARGET_KEYS and v is not None})
    return params


def _psycopg2_params(dsn: str | None = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return _libpq_params(dsn or "", **kwargs)


def _asyncpg_params(dsn: str | None = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return _libpq_params(dsn or "", **kwargs)


def _pg8000_params(user: str | None = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {
        "user": user,
        "host": kwargs.get("host", "localhost"),
        "port": kwargs.get("port", 5432),
        "database": kwargs.get("database"),
    }


_DRIVERS: tuple[tuple[str, str, Callable[..., dict[str, Any]]], ...] = (
    ("psycopg", "connect", _libpq_params),
    ("psycopg", "Connection.connect", _libpq_params),
    ("psycopg", "AsyncConnection.connect", _libpq_params),
    ("asyncpg", "connect", _asyncpg_params),
    ("pg8000", "connect", _pg8000_params),
    ("pg8000.dbapi", "connect", _pg8000_params),
    ("psycopg2", "connect", _psycopg2_params),
)
_DRIVER_MODULES = frozenset(name for name, _, _ in _DRIVERS)
