"""`--baseline`: what prepares the empty migrations database before `upgrade heads`.

A SQL file, a `module:callable(connection)`, or a `module:attr` naming a MetaData (a list of
them, or a declarative Base) whose `create_all` runs. `baseline_bytes` is what of it keys the
snapshot cache.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import URL

from driftbot.errors import ConfigError, ProjectError
from driftbot.project.locate import Project, describe_exception
from driftbot.project.migrate import metadata_tuple
from driftbot.safety.containment import contained

log = logging.getLogger(__name__)


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
                raise ConfigError(
                    f"--baseline {baseline}: {type(prepare).__name__} is neither a callable "
                    "nor a MetaData or declarative Base"
                )
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


def baseline_bytes(baseline: str | None, project: Project) -> bytes:
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
