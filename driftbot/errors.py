"""Typed errors with a user-facing message; `cli/main.py` and `action/main.py` map them to exit codes (DESIGN.md)."""

from __future__ import annotations

EXIT_CLEAN = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_UNCHECKABLE = 3
EXIT_INFRA = 4

# where an internal error asks to be reported (CLI and action)
ISSUES_URL = "https://github.com/driftbot/driftbot/issues"


class DriftbotError(Exception):
    """An error the user can act on. `str()` is the one-line message shown to them."""

    exit_code = EXIT_INFRA
    stage = "driftbot"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class ConfigError(DriftbotError):
    """Bad flags, no alembic.ini, an unreadable configuration: exit 2."""

    exit_code = EXIT_USAGE
    stage = "settings"


class ProjectError(DriftbotError):
    """The project could not be checked (import error, failing migration, ...): exit 3."""

    exit_code = EXIT_UNCHECKABLE
    stage = "project"


class MigrationError(ProjectError):
    stage = "migrate"


class InfrastructureError(DriftbotError):
    """No PostgreSQL could be started or reached: exit 4."""

    exit_code = EXIT_INFRA
    stage = "postgres"


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that every context manager cleans up."""
