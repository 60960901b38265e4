"""The action's check mode reviews the pull request's own revisions, since the PR's base by default.

The orchestrator (driftbot.action.check) asks git which files changed since
`pull_request.base.sha` and hands the list to the worker, whose copy of the workspace has no
.git; the worker runs as the worker account (we are root here), against a real PostgreSQL, and
the fake GitHub receives the comment and the status. A base that is not in the checkout is one
warning, and the check runs without the review.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakegithub import BOT, FakeGitHub
from fakegithub.events import event_payload
from fakegithub.pytest_plugin import fake_github
from test_worker_isolation import ROOT_ONLY, as_worker, open_dir, worker_python

from driftbot.action.check import run_check
from driftbot.action.settings import Settings

__all__ = ["as_worker", "fake_github", "open_dir", "worker_python"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
MISSING = "0123456789abcdef0123456789abcdef01234567"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def checkout(workspace: Path, scenario: str, pr_revisions: tuple[str, ...]) -> str:
    """The scenario's project under backend/ as a git checkout: the base commit without the PR's
    revision files, then the PR's commit with them. The base commit's SHA."""
    project = workspace / "backend"
    for layer in ("_base", scenario):
        shutil.copytree(FIXTURES / layer, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    versions = project / "migrations" / "versions"
    held = {name: (versions / name).read_text() for name in pr_revisions}
    for name in held:
        (versions / name).unlink()
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "base")
    base = git(workspace, "rev-parse", "HEAD")
    for name, text in held.items():
        (versions / name).write_text(text)
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "the PR")
    for dirpath, dirnames, filenames in os.walk(workspace):  # as a runner's checkout: others may read
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return base


def run(fake: FakeGitHub, workspace: Path, base_sha: str, **inputs: str) -> tuple[int, dict[str, Any], str, Any]:
    repo = fake.add_repo("octo/shop")
    repo.branch("pr", "main")
    head = repo.commit("pr", {"backend/migrations/versions/0002_labels.py": "# the PR\n"})
    number = fake.open_pull(repo, "pr").number
    payload = event_payload(
        "pull_request_opened.json",
        **{
            "number": number,
            "pull_request.number": number,
            "pull_request.head.sha": head,
            "pull_request.head.ref": "pr",
            "pull_request.base.sha": base_sha,
        },
    )
    (workspace.parent / "summary.md").write_text("")
    env = {
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(workspace.parent / "event.json"),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_API_URL": fake.url,
        "GITHUB_STEP_SUMMARY": str(workspace.parent / "summary.md"),
        "INPUT_GITHUB-TOKEN": fake.token,
        "INPUT_WORKING-DIRECTORY": "backend",
        "INPUT_POSTGRES": "url",
        "INPUT_SUGGEST": "off",
        **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
    }
    code = run_check(Settings.from_environ(env), payload)
    report = json.loads((workspace / "driftbot-report.json").read_text())
    comments = fake.comments(repo, number, BOT)
    [status] = fake.statuses(repo, head, "driftbot")[-1:]
    return code, report, (workspace.parent / "summary.md").read_text(), (comments, status)


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
def test_the_revisions_since_the_pull_requests_base_are_reviewed(
    fake_github: FakeGitHub, open_dir: Path, pg_url: str
) -> None:
    workspace = open_dir / "workspace"
    base = checkout(workspace, "review_enum_residue", ("0002_labels.py",))

    code, report, summary, (comments, status) = run(fake_github, workspace, base, **{"database-url": pg_url})

    assert code == 1, report.get("error")
    review = report["review"]
    assert (review["since"], review["mode"]) == (base, "ref")  # the default: since the PR's base
    assert [r["revision"] for r in review["revisions"]] == ["0002"]
    assert [f["kind"] for f in report["findings"]] == ["downgrade_residue"]
    [comment] = comments
    # no schema drift: what failed is the review, and the title says so
    assert comment.body.startswith("### ❌ driftbot: this pull request's migrations fail the review\n")
    assert "review of this pull request's own revisions fails: **1 review finding**" in comment.body
    assert "schema drift" not in comment.body.split("\n")[0]
    assert "- ❌ `0002` `migrations/versions/0002_labels.py`: **downgrade leaves 1 difference(s)**" in comment.body
    assert summary.startswith("### ❌ driftbot: this pull request's migrations fail the review\n")
    assert (status.state, status.description) == ("failure", "1 review finding")


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
@pytest.mark.parametrize("since", ["base", "none"])
def test_without_the_base_commit_the_check_runs_without_the_review(
    fake_github: FakeGitHub, open_dir: Path, pg_url: str, since: str, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = open_dir / "workspace"
    checkout(workspace, "review_enum_residue", ("0002_labels.py",))
    # the project's own setting would review everything after 0001: the action's decision wins in the worker
    (workspace / "backend" / "pyproject.toml").write_text('[tool.driftbot]\nsince = "0001"\n')
    os.chmod(workspace / "backend" / "pyproject.toml", 0o644)

    with caplog.at_level(logging.WARNING, logger="driftbot"):
        code, report, summary, (comments, status) = run(
            fake_github, workspace, MISSING, **{"database-url": pg_url, "since": since}
        )

    assert code == 0 and report["status"] == "clean" and report["findings"] == []
    assert comments == [] and status.state == "success"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if since == "none":
        assert report["review"] is None and warnings == []
        return
    [warning] = warnings
    assert MISSING in warning and "fetch-depth: 0" in warning and f"git fetch --depth=1 origin {MISSING}" in warning
    assert report["review"]["revisions"] == [] and report["review"]["note"] == warning
    assert MISSING in summary and "fetch\\-depth: 0" in summary
