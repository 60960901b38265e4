"""One frozen Settings value for a run; the CLI (and later the action) build it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from driftbot.compare.ignore import IgnoreRules

PostgresKind = Literal["auto", "local", "docker", "embedded", "url"]
POSTGRES_KINDS: tuple[PostgresKind, ...] = ("auto", "local", "docker", "embedded", "url")
ReportFormat = Literal["text", "markdown", "json"]
FailOn = Literal["drift", "hazard"]
FAIL_ON: tuple[FailOn, ...] = ("drift", "hazard")


@dataclass(frozen=True)
class Secret:
    """A value that never shows itself in str(), repr() or a log line."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class Settings:
    project_dir: Path = Path(".")
    config_file: Path | None = None  # alembic.ini; default: PROJECT_DIR/alembic.ini
    metadata: str | None = None  # "module:attr" overriding env.py's target_metadata
    script_location: Path | None = None  # the migrations directory, when alembic.ini has none (set from code)
    flask_app: str | None = None  # "module:app_or_factory": env.py runs inside its app_context() (Flask-Migrate)
    url_env_vars: tuple[str, ...] = ("DATABASE_URL",)
    postgres: PostgresKind = "auto"
    database_url: Secret | None = None
    baseline: str | None = None  # FILE.sql or module:callable
    suggest: bool = True  # generate and verify the migration that removes the drift
    cache: bool = True  # start the migrations from a cached snapshot of their prefix (snapshots.py)
    write: bool = False  # write a verified suggestion into the project's versions directory
    message: str | None = None  # the suggested revision's message (default: a summary)
    target_url: Secret | None = None  # `sync`: the development database to bring to the models
    debug: bool = False
    verbose: bool = False  # the project's own output (env.py's logging) on the terminal (projectlog.py)
    postgres_version: int | None = None  # major version: local binaries of it, else docker postgres:N
    postgres_image: str | None = None  # docker provider: this image instead of postgres:<version>
    postgres_timeout: float = 60.0  # seconds a starting server may take to accept connections
    driftbot_config: Path | None = None  # --config-file; default: [tool.driftbot] of the nearest pyproject.toml
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    since: str | None = None  # review the PR's revisions: those changed since this git ref, or after this revision
    # with `since` a ref: the files changed since it (NUL-separated, relative to project_dir), instead of
    # asking git; the action's trusted side writes it, since the worker's copy has no .git
    since_files: Path | None = None
    sample_data: Path | None = None  # review: a SQL file of rows for the impact copies (default: generated rows)
    fail_on: FailOn = "drift"  # "hazard": the review's hazards fail the check too
    report_format: ReportFormat = "text"
    report_output: Path | None = None
    # Fields the caller set on purpose, which the configuration file never overrides; None: the
    # fields that differ from their defaults. `configured`: the configuration file was applied.
    explicit: frozenset[str] | None = None
    configured: bool = False

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def alembic_ini(self) -> Path:
        return self.config_file if self.config_file is not None else self.project_dir / "alembic.ini"
