"""Find the Alembic project: alembic.ini, its script directory, its revisions and heads."""

from __future__ import annotations

import configparser
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from driftbot.errors import ConfigError, ProjectError

log = logging.getLogger(__name__)


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
        raise ConfigError(
            f"no Alembic configuration found: {looked} does not exist",
            hint="run driftbot in the directory that holds alembic.ini, or pass PATH or --config FILE",
        )
    try:
        cfg = Config(str(config_file))
        cfg.get_main_option("script_location")  # parses the file now, so errors surface here
    except configparser.Error as exc:
        raise ConfigError(f"{config_file}: not a valid ini file: {exc}".rstrip()) from exc
    return cfg


def load_project(config_file: Path, script_location: Path | None = None) -> tuple[Project, Config, ScriptDirectory]:
    cfg = alembic_config(config_file)
    resolve_script_location(cfg, config_file, script_location)
    project, script = describe_scripts(cfg, config_file)
    return project, cfg, script


NO_SCRIPT_LOCATION_HINT = (
    "pass --script-location DIR (or script-location in [tool.driftbot]) when the "
    "application sets it from code, or set script_location in alembic.ini's [alembic] section"
)


def resolve_script_location(cfg: Config, config_file: Path, override: Path | None = None) -> None:
    """Set `script_location` on `cfg` where alembic.ini alone does not say where it is.

    - `override` (--script-location): projects that drive Alembic from code (Flask-Migrate sets
      it with `config.set_main_option`) ship an alembic.ini without it.
    - A relative path that does not exist next to alembic.ini: Alembic resolves it against the
      working directory, and projects like mlflow (`script_location = mlflow/store/db_migrations`)
      expect to be run from their package root. The ini's parent directories are tried, nearest
      first: what `alembic -c path/to/alembic.ini` from that directory gets.
    """
    if override is not None:
        location = Path(override).expanduser().resolve()
        log.debug("script_location: %s (--script-location)", location)
        cfg.set_main_option("script_location", str(location).replace("%", "%%"))
        return
    value = cfg.get_main_option("script_location")
    if value is None:
        raise ConfigError(
            f"{config_file}: No 'script_location' key found in configuration.", hint=NO_SCRIPT_LOCATION_HINT
        )
    path = Path(value)
    if path.is_absolute() or ":" in value:  # absolute, or a package resource (`myapp:migrations`)
        return
    base = config_file.resolve().parent
    if (base / path).exists():
        return
    for directory in base.parents:
        if (directory / path).is_dir():
            log.debug(
                "script_location %s does not exist in %s (alembic.ini's directory): using %s, "
                "resolved against %s as `alembic` run from there does",
                value,
                base,
                directory / path,
                directory,
            )
            cfg.set_main_option("script_location", str(directory / path).replace("%", "%%"))
            return


def describe_scripts(cfg: Config, config_file: Path) -> tuple[Project, ScriptDirectory]:
    """The revisions and heads that `cfg` sees."""
    try:
        script = ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise ConfigError(
            f"{config_file}: {exc}",
            hint="set script_location in the [alembic] section to the migrations "
            "directory, or pass --script-location DIR",
        ) from exc
    return describe_script(script, config_file), script


def describe_script(script: ScriptDirectory, config_file: Path) -> Project:
    """The revisions and heads that `script` sees (after env.py changed its version_locations, say)."""
    try:
        revisions = tuple(
            Revision(s.revision, str(Path(s.path).resolve()), tuple(_as_tuple(s.down_revision)))
            for s in reversed(list(script.walk_revisions()))
        )
        heads = tuple(script.get_heads())
    except (SyntaxError, ImportError, CommandError, Exception) as exc:
        raise ProjectError(
            f"cannot load the migration scripts: {describe_exception(exc)}", hint="fix the revision file named above"
        ) from exc
    return Project(
        root=config_file.parent.resolve(),
        config_file=config_file.resolve(),
        script_location=Path(script.dir).resolve(),
        heads=heads,
        revisions=revisions,
    )


def _as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def user_frame(exc: BaseException, roots: tuple[Path, ...] = ()) -> tuple[str, int] | None:
    """The innermost traceback frame in the user's code (not in site-packages or driftbot)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno or 0
    frames = traceback.extract_tb(exc.__traceback__)
    library = (str(Path(sys.prefix)), str(Path(__file__).parent.parent), str(Path(sys.base_prefix)))
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
