"""Quiet by default (issue 10, pattern 11): the project's logging (alembic.ini at INFO, env.py's fileConfig)
stays off the terminal; `--verbose` shows it, masked; a failing migration's error quotes its last lines."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from driftbot.postgres.base import Server
from tests.conftest import PROJECTS
from tests.helpers import sql

MakeProject = Callable[[str], Path]
ALEMBIC_INFO = "INFO  [alembic"


def driftbot(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTBOT_DATABASE_URL", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "driftbot", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def check(project: Path, pg_url: str, *extra: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return driftbot("check", project, "--postgres", "url", "--database-url", pg_url, *extra, cwd=cwd)


@pytest.fixture
def password(pg_url: str) -> str:
    return str(make_url(pg_url).password)


def test_project_logging_is_hidden_by_default(
    make_project: MakeProject, pg_url: str, password: str, tmp_path: Path
) -> None:
    result = check(make_project("quiet_alembic_info"), pg_url, cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "public.users.display_name" in result.stdout
    assert "VERIFIED" in result.stdout  # the suggestion ran env.py three more times, quietly
    assert ALEMBIC_INFO not in result.stdout + result.stderr
    assert "INFO  [app]" not in result.stdout + result.stderr
    assert result.stderr == ""
    assert password not in result.stdout + result.stderr


def test_verbose_shows_project_logging_with_the_password_masked(
    make_project: MakeProject, pg_url: str, password: str, tmp_path: Path
) -> None:
    result = check(make_project("quiet_alembic_info"), pg_url, "--verbose", cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "INFO  [alembic.runtime.migration] Running upgrade  -> 0001, create users" in result.stderr
    assert "INFO  [alembic.runtime.migration] Running upgrade 0002 -> " in result.stderr  # the suggestion's
    assert "INFO  [app] env.py connecting to postgresql+psycopg://postgres:***@" in result.stderr
    assert ALEMBIC_INFO not in result.stdout  # the report stays the report
    assert password not in result.stdout + result.stderr


@pytest.fixture
def failing(make_project: MakeProject) -> Path:
    """quiet_alembic_info with a third revision that divides by zero."""
    project = make_project("quiet_alembic_info")
    shutil.copy(
        PROJECTS / "migration_raises" / "migrations" / "versions" / "0003_backfill_ratio.py",
        project / "migrations" / "versions",
    )
    return project


def test_failing_migration_quotes_its_last_log_lines(failing: Path, pg_url: str, password: str, tmp_path: Path) -> None:
    result = check(failing, pg_url, "--format", "json", "--output", "report.json", cwd=tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr == ""
    error = result.stdout[result.stdout.index("ERROR (migrate): revision 0003") :]
    assert "DivisionByZero" in error
    assert "the project's output before revision 0003 failed (last 6 lines; --verbose shows all):" in error
    assert "  INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003, a data migration" in error
    assert "  INFO  [app] env.py connecting to postgresql+psycopg://postgres:***@" in error
    report = json.loads((tmp_path / "report.json").read_text())
    failure = report["migrations"]["failure"]
    assert failure["revision"] == "0003"
    assert (
        failure["log"][-1] == "INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003, a data migration "
        "PostgreSQL rejects"
    )
    assert "Running upgrade 0002 -> 0003" in report["error"]["message"]
    assert password not in result.stdout + (tmp_path / "report.json").read_text()


def test_failing_migration_with_verbose_shows_the_lines_once(failing: Path, pg_url: str, tmp_path: Path) -> None:
    result = check(failing, pg_url, "--verbose", cwd=tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "Running upgrade 0002 -> 0003" in result.stderr
    assert "Running upgrade 0002 -> 0003" not in result.stdout
    assert "revision 0003" in result.stdout and "DivisionByZero" in result.stdout


def test_env_py_import_error_quotes_the_output_before_it(
    make_project: MakeProject, pg_url: str, tmp_path: Path
) -> None:
    project = make_project("quiet_alembic_info")
    env_py = project / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "target_metadata = Base.metadata", "target_metadata = Base.metadata\nimport no_such_module"
        )
    )
    result = check(project, pg_url, cwd=tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "ModuleNotFoundError" in result.stdout
    assert "the project's output before env.py failed (last 1 lines; --verbose shows all):" in result.stdout
    assert "  INFO  [app] env.py connecting to postgresql+psycopg://postgres:***@" in result.stdout


@pytest.mark.parametrize("command", ["detect", "status"])
def test_detect_and_status_are_quiet_too(
    command: str, make_project: MakeProject, pg_server: Server, password: str, tmp_path: Path
) -> None:
    """Against a live database never migrated: detect builds the migrations, status reads env.py offline."""
    name = f"live_{secrets.token_hex(4)}"
    admin = pg_server.admin_url
    sql(admin, f'CREATE DATABASE "{name}"')
    try:
        live = admin.set(database=name).render_as_string(hide_password=False)
        project = make_project("quiet_alembic_info")
        quiet = driftbot(command, project, "--database-url", live, cwd=tmp_path)
        loud = driftbot(command, project, "--database-url", live, "--verbose", cwd=tmp_path)
    finally:
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert quiet.returncode == loud.returncode == 1, quiet.stdout + quiet.stderr
    assert "0001" in quiet.stdout  # pending
    assert "INFO  [" not in quiet.stdout + quiet.stderr
    assert "INFO  [app] env.py connecting to" in loud.stderr
    assert password not in quiet.stdout + quiet.stderr + loud.stdout + loud.stderr
