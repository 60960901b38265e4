"""The action's inputs and GitHub context: one frozen Settings from the environment.

The runner hands every `action.yml` input to the container as `INPUT_<NAME>` with the name
upper-cased and hyphens kept (`INPUT_GITHUB-TOKEN`), and its context as `GITHUB_*`. One
parse function per input turns text into a typed value or an error message; every bad input
is reported in one `InvalidInputs` (exit 2), so a user fixes the workflow once, not N times.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal, TypeVar, cast, get_args

from driftbot.errors import ConfigError
from driftbot.settings import Secret

Mode = Literal["check", "publish", "commit"]
MODES: tuple[Mode, ...] = get_args(Mode)
FailOn = Literal["drift", "hazard", "error", "never"]
FAIL_ON: tuple[FailOn, ...] = get_args(FailOn)
Postgres = Literal["auto", "local", "docker", "url"]
POSTGRES: tuple[Postgres, ...] = get_args(Postgres)
CacheSave = Literal["auto", "on", "off"]
CACHE_SAVE: tuple[CacheSave, ...] = get_args(CacheSave)
# events that run merged code: their snapshots may serve every later run (see SECURITY.md)
TRUSTED_CACHE_EVENTS = frozenset({"push", "schedule", "workflow_dispatch"})

_TRUE = ("on", "true", "yes", "1")
_FALSE = ("off", "false", "no", "0")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

T = TypeVar("T")


class InvalidInputs(ConfigError):
    """Every input that could not be read, each with what was expected."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "invalid action inputs:\n" + "\n".join(f"  - {p}" for p in problems),
            hint="see the inputs table in driftbot's README",
        )
        self.problems = problems


class Token(Secret):
    """The GitHub token: `str()` and `repr()` show `***`, only `.value` holds it."""


@dataclass(frozen=True)
class Settings:
    # inputs (action.yml); `metadata={"input": ...}` names the input each field comes from
    github_token: Token = field(repr=False, metadata={"input": "github-token"})
    mode: Mode | None = field(default=None, metadata={"input": "mode"})
    working_directory: Path = field(default=Path("."), metadata={"input": "working-directory"})
    config: Path | None = field(default=None, metadata={"input": "config"})
    metadata: str | None = field(default=None, metadata={"input": "metadata"})
    url_env: tuple[str, ...] = field(default=("DATABASE_URL",), metadata={"input": "url-env"})
    install: str | None = field(default=None, metadata={"input": "install"})
    postgres: Postgres = field(default="auto", metadata={"input": "postgres"})
    postgres_version: int | None = field(default=None, metadata={"input": "postgres-version"})
    postgres_image: str | None = field(default=None, metadata={"input": "postgres-image"})
    database_url: Secret | None = field(default=None, repr=False, metadata={"input": "database-url"})
    baseline: str | None = field(default=None, metadata={"input": "baseline"})
    fail_on: FailOn = field(default="drift", metadata={"input": "fail-on"})
    since: str | None = field(default="base", metadata={"input": "since"})  # None: no review (review.py)
    comment: bool = field(default=True, metadata={"input": "comment"})
    suggest: bool = field(default=True, metadata={"input": "suggest"})
    comment_id: str = field(default="default", metadata={"input": "id"})
    report_path: Path = field(default=Path("driftbot-report.json"), metadata={"input": "report-path"})
    cache_dir: Path = field(default=Path(".driftbot-cache"), metadata={"input": "cache-dir"})
    cache_save: CacheSave = field(default="auto", metadata={"input": "cache-save"})
    # the GitHub context (GITHUB_* / RUNNER_*), set by the runner
    event_name: str = ""
    event_path: Path = Path("/github/workflow/event.json")
    repository: str = ""
    workspace: Path = Path("/github/workspace")
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str = ""
    run_attempt: str = "1"
    sha: str = ""
    output_file: Path | None = None
    summary_file: Path | None = None
    debug: bool = False

    @property
    def run_url(self) -> str | None:
        if not self.run_id or not self.repository:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def project_dir(self) -> Path:
        """working-directory, inside the workspace (relative inputs are relative to it)."""
        return self.workspace / self.working_directory

    @property
    def keeps_snapshots(self) -> bool:
        """Whether this run's snapshots join the cache: `auto` keeps those of merged code only."""
        if self.cache_save == "auto":
            return self.event_name in TRUSTED_CACHE_EVENTS
        return self.cache_save == "on"

    def in_workspace(self, path: Path) -> Path:
        return path if path.is_absolute() else self.workspace / path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The inputs and the context; every problem in them raised at once (InvalidInputs)."""
        read = _Environ(os.environ if environ is None else environ)
        repository = read.context("GITHUB_REPOSITORY", required=True)
        if repository and not _REPO.match(repository):
            read.problems.append(f"GITHUB_REPOSITORY: {repository!r} is not owner/name")
        settings = _with_context(_from_inputs(read), read, repository)
        problems = read.problems + _conflicts(settings)
        if problems:
            raise InvalidInputs(problems)
        return settings


@dataclass
class _Environ:
    """The environment, read one variable at a time; what could not be read goes to `problems`."""

    env: Mapping[str, str]
    problems: list[str] = field(default_factory=list)

    def input(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.env.get(f"INPUT_{name.upper()}", "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(f"{name}: {exc}")
            return default

    def context(self, name: str, required: bool = False, default: str = "") -> str:
        value = self.env.get(name, "").strip()
        if required and not value:
            self.problems.append(f"{name} is not set: run driftbot as a GitHub Action step, or set it by hand")
        return value or default


def _from_inputs(read: _Environ) -> Settings:
    """The action.yml inputs (INPUT_*); the context keeps its defaults."""
    return Settings(
        github_token=Token(read.env.get("INPUT_GITHUB-TOKEN", "").strip()),
        mode=read.input("mode", _choice(MODES), None),
        working_directory=read.input("working-directory", _relative_path, Path(".")),
        config=read.input("config", _relative_path, None),
        metadata=read.input("metadata", _module_attr, None),
        url_env=read.input("url-env", _env_names, ("DATABASE_URL",)),
        install=read.input("install", str, None),
        postgres=read.input("postgres", _choice(POSTGRES), "auto"),
        postgres_version=read.input("postgres-version", _major_version, None),
        postgres_image=read.input("postgres-image", _image, None),
        database_url=read.input("database-url", _database_url, None),
        baseline=read.input("baseline", str, None),
        fail_on=read.input("fail-on", _choice(FAIL_ON), "drift"),
        since=read.input("since", _since, cast("str | None", "base")),
        comment=read.input("comment", _boolean, True),
        suggest=read.input("suggest", _boolean, True),
        comment_id=read.input("id", _comment_id, "default"),
        report_path=read.input("report-path", Path, Path("driftbot-report.json")),
        cache_dir=read.input("cache-dir", _relative_path, Path(".driftbot-cache")),
        cache_save=read.input("cache-save", _choice(CACHE_SAVE), "auto"),
    )


def _with_context(settings: Settings, read: _Environ, repository: str) -> Settings:
    """The GitHub context the runner sets (GITHUB_*, RUNNER_*)."""
    return replace(
        settings,
        event_name=read.context("GITHUB_EVENT_NAME", required=True),
        event_path=Path(read.context("GITHUB_EVENT_PATH", required=True, default="/github/workflow/event.json")),
        repository=repository,
        workspace=Path(read.context("GITHUB_WORKSPACE", default=os.getcwd())),
        api_url=read.context("GITHUB_API_URL", default="https://api.github.com").rstrip("/"),
        server_url=read.context("GITHUB_SERVER_URL", default="https://github.com").rstrip("/"),
        run_id=read.context("GITHUB_RUN_ID"),
        run_attempt=read.context("GITHUB_RUN_ATTEMPT", default="1"),
        sha=read.context("GITHUB_SHA"),
        output_file=Path(p) if (p := read.context("GITHUB_OUTPUT")) else None,
        summary_file=Path(p) if (p := read.context("GITHUB_STEP_SUMMARY")) else None,
        debug=read.context("RUNNER_DEBUG") == "1" or read.context("ACTIONS_STEP_DEBUG") == "true",
    )


def _conflicts(settings: Settings) -> list[str]:
    """Inputs that are each valid but don't go together."""
    problems = []
    if settings.postgres == "url" and settings.database_url is None:
        problems.append("postgres: `url` needs the database-url input")
    if settings.postgres_image is not None and settings.postgres not in ("auto", "docker"):
        problems.append(f"postgres-image: only for `postgres: docker`, not {settings.postgres}")
    if settings.postgres_version is not None and settings.postgres == "url":
        problems.append("postgres-version: does not apply to `postgres: url` (the server is yours)")
    return problems


def input_names() -> dict[str, str]:
    """action.yml input name → Settings field (the README/action.yml agreement test uses it)."""
    return {str(f.metadata["input"]): f.name for f in fields(Settings) if "input" in f.metadata}


def _choice(choices: tuple[T, ...]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = raw.lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(map(str, choices))}")
        return cast(T, value)

    return parse


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not on/off (or true/false)")


def _relative_path(raw: str) -> Path:
    path = Path(raw)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{raw!r} must be a path inside the repository (relative, without `..`)")
    return path


def _module_attr(raw: str) -> str:
    module, _, attr = raw.partition(":")
    if not module or not attr or " " in raw:
        raise ValueError(f"{raw!r} is not module:attribute (e.g. myapp.models:Base)")
    return raw


def _env_names(raw: str) -> tuple[str, ...]:
    names = tuple(n for n in re.split(r"[\s,]+", raw) if n)
    bad = [n for n in names if not _ENV_NAME.match(n)]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))}: not environment variable names")
    return names


def _major_version(raw: str) -> int:
    if not raw.isdigit() or not 9 <= int(raw) <= 99:
        raise ValueError(f"{raw!r} is not a PostgreSQL major version (e.g. 16)")
    return int(raw)


def _image(raw: str) -> str:
    if not re.fullmatch(r"[\w][\w.:/@+-]*", raw):
        raise ValueError(f"{raw!r} is not a Docker image reference")
    return raw


def _database_url(raw: str) -> Secret:
    if not re.match(r"^postgres(ql)?(\+\w+)?://", raw):
        # never echo the value: it usually carries a password
        raise ValueError("expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    return Secret(raw)


def _since(raw: str) -> str | None:
    """`base` (the pull request's base commit), a git ref, a revision id; `none` turns the review off."""
    if raw.lower() in ("none", "off", "false", "no"):
        return None
    if raw.lower() == "base":
        return "base"
    if raw.startswith("-") or len(raw) > 255 or any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in raw):
        raise ValueError(f"{raw[:80]!r} is not `base`, `none`, a git ref or a revision id")
    return raw


def _comment_id(raw: str) -> str:
    if not _ID.match(raw):
        raise ValueError(f"{raw!r}: use letters, digits, `.`, `_`, `-` (at most 64)")
    return raw
