"""The file the comment offers to commit: only a migration in the project's versions directory.

The path comes from the report, which a fork's check uploads (publish mode) or the worker
writes after running the PR's code (check mode): both are untrusted. The project's
directory (`working-directory`) is the workflow's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from driftbot.action.worker import read_report
from driftbot.github.commands import extract_migration
from driftbot.github.comments import marker
from driftbot.report.comment import CommentContext, UnsafeMigrationPath, committable_path, render_comment
from driftbot.report.model import Report

REPORT = Path(__file__).resolve().parents[1] / "golden" / "drift" / "report.json"
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
VERSIONS = "/github/workspace/backend/migrations/versions"
CTX = CommentContext(repository="octo/shop", head_sha=HEAD, branch="add-nickname", project_path="backend")


def with_path(path: str) -> Report:
    report = read_report(REPORT)
    assert report.suggestion is not None
    return dataclasses.replace(report, suggestion=dataclasses.replace(report.suggestion, path=path))


def test_a_migration_in_the_versions_directory_is_offered() -> None:
    report = with_path(f"{VERSIONS}/0002_add-nickname.py")
    assert committable_path(report, "backend") == "backend/migrations/versions/0002_add-nickname.py"
    carried = extract_migration(render_comment(report, CTX, marker("default", HEAD)))
    assert carried is not None and carried[0] == "backend/migrations/versions/0002_add-nickname.py"


@pytest.mark.parametrize(
    "path",
    [
        "/github/workspace/backend/conftest.py",  # in the project, not a migration directory
        "/github/workspace/.github/workflows/pwn.yml",
        "/github/workspace/setup.py",  # outside the project
        f"{VERSIONS}/../../app/__init__.py",
        f"{VERSIONS}/../versions/../env.py",
        "/etc/cron.d/x.py",
        "relative/x.py",
        f"{VERSIONS}/x\n::error::pwned.py",
        f"{VERSIONS}/with space.py",
        f"{VERSIONS}/x.sh",
        f"{VERSIONS}/.hidden.py",
        f"{VERSIONS}/sub/x.py",
    ],
)
def test_any_other_path_is_refused_with_a_clear_error(path: str) -> None:
    report = with_path(path)
    with pytest.raises(UnsafeMigrationPath, match="versions directory"):
        committable_path(report, "backend")
    body = render_comment(report, CTX, marker("default", HEAD))  # the check mode: shown, never offered
    assert extract_migration(body) is None and "Commit this migration" not in body
