"""`python -m driftbot check` as a user runs it: exit codes, output files, no tracebacks, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

MakeProject = Callable[[str], Path]


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTBOT_DATABASE_URL", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "driftbot", "check", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def check(project: Path, pg_url: str, *extra: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(project, "--postgres", "url", "--database-url", pg_url, *extra, cwd=cwd)


def assert_no_secret(result: subprocess.CompletedProcess[str], secret: str) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr


@pytest.fixture
def password(pg_url: str) -> str:
    value = make_url(pg_url).password
    assert value, "the session's server is expected to have a password"
    return str(value)


def test_drift_exits_1_and_names_the_finding(
    make_project: MakeProject, pg_url: str, password: str, tmp_path: Path
) -> None:
    result = check(make_project("column_missing"), pg_url, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert "column_missing" in result.stdout
    assert "public.users.display_name" in result.stdout
    assert "Traceback" not in result.stderr
    assert_no_secret(result, password)


def test_clean_project_exits_0(make_project: MakeProject, pg_url: str, password: str, tmp_path: Path) -> None:
    result = check(make_project("version_table_custom"), pg_url, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No drift" in result.stdout
    assert_no_secret(result, password)


def test_json_report_written_to_output(make_project: MakeProject, pg_url: str, password: str, tmp_path: Path) -> None:
    result = check(make_project("column_missing"), pg_url, "--format", "json", "--output", "report.json", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    written = (tmp_path / "report.json").read_text()
    report = json.loads(written)
    assert report["status"] == "drift"
    assert report["exit_code"] == 1
    assert [(f["kind"], f["object"]) for f in report["findings"]] == [("column_missing", "public.users.display_name")]
    assert "column_missing" in result.stdout  # the terminal still gets the text report
    assert password not in written
    assert_no_secret(result, password)


@pytest.mark.parametrize(
    "scenario",
    [
        "migration_raises",
        "models_import_error",
        "models_name_error",
        "env_syntax_error",
        "two_heads",
        "baseline_required",
    ],
)
def test_uncheckable_project_exits_3_without_traceback(
    scenario: str, make_project: MakeProject, pg_url: str, password: str, tmp_path: Path
) -> None:
    result = check(make_project(scenario), pg_url, cwd=tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert "ERROR" in result.stdout
    assert_no_secret(result, password)


def test_missing_alembic_ini_exits_2(pg_url: str, password: str, tmp_path: Path) -> None:
    empty = tmp_path / "not_a_project"
    empty.mkdir()

    result = check(empty, pg_url, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert str(empty / "alembic.ini") in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_no_secret(result, password)


def test_broken_alembic_ini_exits_2(make_project: MakeProject, pg_url: str, password: str, tmp_path: Path) -> None:
    project = make_project("alembic_ini_broken")

    result = check(project, pg_url, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert str(project / "alembic.ini") in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_no_secret(result, password)


def test_wrong_password_exits_4_without_showing_it(make_project: MakeProject, pg_url: str, tmp_path: Path) -> None:
    wrong = "not-the-password-5f3e1c"
    bad_url = make_url(pg_url).set(password=wrong).render_as_string(hide_password=False)

    result = check(make_project("column_missing"), bad_url, cwd=tmp_path)

    assert result.returncode == 4, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_no_secret(result, wrong)


def test_database_url_from_the_environment_is_not_shown(
    make_project: MakeProject, pg_url: str, password: str, tmp_path: Path
) -> None:
    """env.py reads DATABASE_URL: the scratch URL (with the password) is put there, never printed."""
    result = check(make_project("env_database_url"), pg_url, "--debug", cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "column_missing" in result.stdout
    assert_no_secret(result, password)
