"""Find the Alembic project: alembic.ini, its script directory, its revisions and heads."""

from __future__ import annotations

import configparser
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from driftbot.errors import ConfigError, ProjectError


@dataclass(frozen=True)
class Revision:
    revision: str
    file: str
    down_revisions: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    root: Path
    config_file: Path
    script_location: Path
    heads: tuple[str, ...]
    revisions: tuple[Revision, ...]  # base first

    def file_of(self, revision: str) -> str:
        return next((r.file for r in self.revisions if r.revision == revision), "")


def alembic_config(config_file: Path) -> Config:
    if not config_file.is_file():
        looked = config_file if config_file.name.endswith(".ini") else config_file / "alembic.ini"
        raise ConfigError(f"no Alembic configuration found: {looked} does not exist",
                          hint="run driftbot in the directory that holds alembic.ini, "
                               "or pass PATH or --config FILE")
    try:
        cfg = Config(str(config_file))
        cfg.get_main_option("script_location")  # parses the file now, so errors surface here
    except configparser.Error as exc:
        raise ConfigError(f"{config_file}: not a valid ini file: {exc}".rstrip()) from exc
    return cfg


def load_project(config_file: Path) -> tuple[Project, Config, ScriptDirectory]:
    cfg = alembic_config(config_file)
    project, script = describe_scripts(cfg, config_file)
    return project, cfg, script


def describe_scripts(cfg: Config, config_file: Path) -> tuple[Project, ScriptDirectory]:
    """The revisions and heads that `cfg` sees."""
    try:
        script = ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise ConfigError(f"{config_file}: {exc}",
                          hint="set script_location in the [alembic] section to the migrations "
                               "directory") from exc
    try:
        revisions = tuple(
            Revision(s.revision, str(Path(s.path).resolve()), tuple(_as_tuple(s.down_revision)))
            for s in reversed(list(script.walk_revisions()))
        )
        heads = tuple(script.get_heads())
    except (SyntaxError, ImportError, CommandError, Exception) as exc:
        raise ProjectError(f"cannot load the migration scripts: {describe_exception(exc)}",
                           hint="fix the revision file named above") from exc
    project = Project(root=config_file.parent.resolve(), config_file=config_file.resolve(),
                      script_location=Path(script.dir).resolve(), heads=heads, revisions=revisions)
    return project, script


def _as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def user_frame(exc: BaseException, roots: tuple[Path, ...] = ()) -> tuple[str, int] | None:
    """The innermost traceback frame in the user's code (not in site-packages or driftbot)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    library = (str(Path(sys.prefix)), str(Path(__file__).parent), str(Path(sys.base_prefix)))
    for frame in reversed(frames):
        path = str(Path(frame.filename).resolve()) if not frame.filename.startswith("<") else ""
        if not path:
            continue
        if roots and any(path.startswith(str(r)) for r in roots):
            return path, frame.lineno or 0
        if not roots and not path.startswith(library):
            return path, frame.lineno or 0
    return None


def describe_exception(exc: BaseException, roots: tuple[Path, ...] = ()) -> str:
    """`file:line: ExcType: message` for the user's frame, the message alone otherwise."""
    where = user_frame(exc, roots)
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, SyntaxError):
        message = f"SyntaxError: {exc.msg}"
    return f"{where[0]}:{where[1]}: {message}" if where else message
