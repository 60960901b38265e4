"""The configuration file: `[tool.driftbot]` in pyproject.toml, or `--config-file FILE`.

It holds every option of `driftbot check` under the flag's name (`postgres-version = 16`,
`format = "json"`, `url-env = ["APP_DB_URL"]`) plus the ignore rules (`[tool.driftbot.ignore]`).
What the caller set on purpose (the command line, the action's inputs) wins over the file;
the file wins over the built-in defaults. Paths in the file are relative to the file.

Without `--config-file`, the nearest pyproject.toml with a `[tool.driftbot]` table is used,
looking from the project directory upwards and stopping at the repository's root.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import get_args

from driftbot.compare.ignore import RULE_KEYS, IgnoreRules
from driftbot.compare.kinds import KINDS
from driftbot.errors import ConfigError
from driftbot.settings import FAIL_ON, POSTGRES_KINDS, ReportFormat, Secret, Settings

FINDING_KINDS: tuple[str, ...] = tuple(KINDS)  # kinds.py's table


class _Invalid(Exception):
    """A value the option does not take; the message says what it takes."""


@dataclass(frozen=True)
class Option:
    field: str  # the Settings field
    allowed: str  # what the option takes, for the error message
    parse: Callable[[object, Path], object]  # (value, directory of the file) -> the field's value


def _string(value: object, _base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid
    return value


def _path(value: object, base: Path) -> Path:
    return base / Path(_string(value, base)).expanduser()


def _boolean(value: object, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise _Invalid
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[object, Path], object]:
    def parse(value: object, _base: Path) -> str:
        if value not in choices:
            raise _Invalid
        return str(value)

    return parse


def _major_version(value: object, _base: Path) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not re.fullmatch(r"\d{1,3}", text.strip()) or int(text) < 9:
        raise _Invalid
    return int(text)


def _seconds(value: object, _base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _Invalid
    return float(value)


def _env_names(value: object, _base: Path) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names)
    ):
        raise _Invalid
    return tuple(str(n) for n in names)


def _baseline(value: object, base: Path) -> str:
    text = _string(value, base)
    return str(base / text) if text.endswith(".sql") else text  # module:callable stays as it is


def _secret(value: object, base: Path) -> Secret:
    return Secret(_string(value, base))


def _since(value: object, base: Path) -> str:
    text = _string(value, base).strip()
    if text.startswith("-") or any(c.isspace() or ord(c) < 32 for c in text):  # never an option, one word
        raise _Invalid
    return text


OPTIONS: dict[str, Option] = {
    "path": Option("project_dir", "a directory (the project holding alembic.ini)", _path),
    "config": Option("config_file", "a file name (the alembic.ini to use)", _path),
    "metadata": Option("metadata", "a string module:attribute", _string),
    "script-location": Option("script_location", "a directory (the migrations' script directory)", _path),
    "flask-app": Option("flask_app", "a string module:app or module:create_app", _string),
    "url-env": Option("url_env_vars", "an environment variable name or a list of them", _env_names),
    "postgres": Option("postgres", ", ".join(POSTGRES_KINDS), _choice(POSTGRES_KINDS)),
    "postgres-version": Option("postgres_version", "a PostgreSQL major version such as 16", _major_version),
    "postgres-image": Option("postgres_image", "a Docker image such as postgres:16-alpine", _string),
    "postgres-timeout": Option("postgres_timeout", "a number of seconds greater than 0", _seconds),
    "database-url": Option("database_url", "a URL postgresql://USER:PASSWORD@HOST:PORT/DATABASE", _secret),
    "baseline": Option("baseline", "FILE.sql, module:callable or module:MetaData", _baseline),
    "format": Option("report_format", ", ".join(get_args(ReportFormat)), _choice(get_args(ReportFormat))),
    "output": Option("report_output", "a file name", _path),
    "suggest": Option("suggest", "true, false", _boolean),
    "write": Option("write", "true, false", _boolean),
    "debug": Option("debug", "true, false", _boolean),
    "verbose": Option("verbose", "true, false", _boolean),
    # the review of the PR's own revisions (review.py)
    "since": Option("since", "a git ref such as main, or a revision id (one word, not starting with -)", _since),
    "sample-data": Option("sample_data", "a file name (FILE.sql, rows for the review's impact copies)", _path),
    "fail-on": Option("fail_on", ", ".join(FAIL_ON), _choice(FAIL_ON)),
}
IGNORE_KEY = "ignore"
ALLOWED_KEYS = (*OPTIONS, IGNORE_KEY)


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    values: Mapping[str, object]  # Settings field -> value, validated


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.driftbot] table, up to the repository's root."""
    directory = start.resolve()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        tool = _read_toml(pyproject).get("tool") if pyproject.is_file() else None
        if isinstance(tool, dict) and "driftbot" in tool:
            return pyproject
        if (candidate / ".git").exists():
            return None
    return None


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_config(path: Path) -> ConfigFile:
    """`[tool.driftbot]` of `path` (or, in a file of its own, its top-level table), validated."""
    if not path.is_file():
        raise ConfigError(f"configuration file {path} not found")
    data = _read_toml(path)
    tool = data.get("tool")
    if isinstance(tool, dict) and "driftbot" in tool:
        table, where = tool["driftbot"], "[tool.driftbot]"
    elif path.name == "pyproject.toml":
        raise ConfigError(f"{path} has no [tool.driftbot] table")
    else:
        table, where = data, ""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'the file'} in {path} must be a table")
    base = path.resolve().parent
    values: dict[str, object] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        name = f"{where} {raw_key}".strip()
        if key == IGNORE_KEY:
            values["ignore"] = _ignore_rules(value, f"{where.strip('[]')}.{raw_key}".lstrip("."), path)
            continue
        option = OPTIONS.get(key)
        if option is None:
            close = difflib.get_close_matches(key, ALLOWED_KEYS, n=1)
            raise ConfigError(
                f"{name} in {path}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"allowed keys: {', '.join(ALLOWED_KEYS)}",
            )
        try:
            values[option.field] = option.parse(value, base)
        except _Invalid:
            raise ConfigError(
                f"{name} = {_show(value)} in {path} is not allowed", hint=f"allowed values: {option.allowed}"
            ) from None
    return ConfigFile(path, values)


def _ignore_rules(value: object, name: str, path: Path) -> IgnoreRules:
    if not isinstance(value, dict):
        raise ConfigError(
            f"[{name}] in {path} must be a table",
            hint=f"allowed keys: {', '.join(RULE_KEYS)}, each a list of glob patterns",
        )
    rules: dict[str, tuple[str, ...]] = {}
    for key, patterns in value.items():
        if key not in RULE_KEYS:
            raise ConfigError(f"[{name}] {key} in {path}: unknown key", hint=f"allowed keys: {', '.join(RULE_KEYS)}")
        listed = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(listed, list) or not all(isinstance(p, str) and p for p in listed):
            raise ConfigError(
                f"[{name}] {key} = {_show(patterns)} in {path} is not allowed",
                hint='allowed values: a list of glob patterns such as ["audit_*", "public.legacy"]',
            )
        if key == "kinds":
            for pattern in listed:
                if not any(fnmatchcase(kind, pattern) for kind in FINDING_KINDS):
                    raise ConfigError(
                        f"[{name}] kinds: {pattern!r} in {path} matches no finding kind",
                        hint=f"allowed values: {', '.join(FINDING_KINDS)} (or a glob such as 'index_*')",
                    )
        rules[key] = tuple(listed)
    return IgnoreRules(**rules)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def explicit_fields(settings: Settings) -> frozenset[str]:
    if settings.explicit is not None:
        return settings.explicit
    defaults = Settings()
    return frozenset(
        f.name for f in dataclasses.fields(Settings) if getattr(settings, f.name) != getattr(defaults, f.name)
    )


def configure(settings: Settings) -> Settings:
    """Settings with the configuration file applied under what the caller set explicitly."""
    if settings.configured:
        return settings
    path = settings.driftbot_config or find_config(settings.project_dir)
    if path is None:
        return settings.replace(configured=True)
    config = load_config(path)
    explicit = explicit_fields(settings)
    changes = {name: value for name, value in config.values.items() if name not in explicit}
    return settings.replace(**changes, configured=True)
