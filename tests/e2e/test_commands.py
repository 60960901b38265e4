"""`driftbot revision` and `driftbot sync` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from driftbot.postgres.base import Server, scratch_database


def driftbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftbot", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def versions(project: Path) -> set[str]:
    return {p.name for p in (project / "migrations" / "versions").glob("*.py")}


def test_revision_writes_the_verified_migration_and_the_project_is_then_clean(
    make_project: Callable[[str], Path], pg_url: str
) -> None:
    project = make_project("column_missing")
    before = versions(project)
    result = driftbot(
        "revision", ".", "-m", "add display name", "--postgres", "url", "--database-url", pg_url, cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [new] = versions(project) - before
    content = (project / "migrations" / "versions" / new).read_text()
    assert '"""add display name' in content and "op.add_column('users'" in content
    again = driftbot("check", ".", "--postgres", "url", "--database-url", pg_url, cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr


def test_check_never_writes_without_write(make_project: Callable[[str], Path], pg_url: str) -> None:
    project = make_project("column_missing")
    before = versions(project)
    result = driftbot("check", ".", "--postgres", "url", "--database-url", pg_url, cwd=project)
    assert result.returncode == 1
    assert "VERIFIED" in result.stdout and "run again with --write" in result.stdout
    assert versions(project) == before


def test_sync_brings_a_development_database_to_the_models(
    make_project: Callable[[str], Path], pg_server: Server, pg_url: str
) -> None:
    project = make_project("column_missing")
    with scratch_database(pg_server, "dev") as dev:
        dev_url = dev.render_as_string(hide_password=False)
        result = driftbot(
            "sync",
            ".",
            "--database-url",
            dev_url,
            "--postgres",
            "url",
            "--scratch-database-url",
            pg_url,
            "--format",
            "json",
            cwd=project,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert [a["revision"] for a in report["sync"]["applied"]][:1] == ["0001"]
        assert len(report["sync"]["applied"]) == 2 and report["sync"]["remaining"] == []
        assert report["suggestion"]["written"] is True
        assert dev.password not in result.stdout + result.stderr
