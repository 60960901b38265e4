"""The pre-commit hook, run as users run it: `pre-commit try-repo <driftbot> driftbot` in a git
repository of a project. pre-commit builds the hook's virtualenv from driftbot's tree (pip, from
PyPI), once per session here; then each run boots a local PostgreSQL as `driftbot check` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """driftbot's working tree as a repository of its own: try-repo takes only committed and
    tracked-modified files, and a tree under development has new files too."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    snapshot = tmp_path_factory.mktemp("driftbot-hook")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith(("benchmarks/generated/", "tests/fixtures/")):
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    _git(snapshot, "init", "-q")
    _git(snapshot, "add", "-A")
    _git(snapshot, "commit", "-q", "-m", "snapshot")
    return snapshot


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("pre-commit-home")


def _project_repo(dest: Path) -> Path:
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "project")
    return dest


def _try_repo(project: Path, hook_repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(hook_repo), "driftbot", "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_hook_fails_the_commit_on_drift_and_shows_the_finding(
    hook_repo: Path, pre_commit_home: Path, make_project: Callable[[str], Path]
) -> None:
    project = _project_repo(make_project("column_missing"))
    out = _try_repo(project, hook_repo, pre_commit_home)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "driftbot (models vs. migrations)" in out.stdout and "Failed" in out.stdout
    assert "column_missing" in out.stdout and "public.users.display_name" in out.stdout
    assert "- exit code: 1" in out.stdout


def test_hook_passes_a_clean_project_and_skips_unrelated_commits(
    hook_repo: Path, pre_commit_home: Path, make_project: Callable[[str], Path], tmp_path: Path
) -> None:
    project = _project_repo(make_project("clean_everything"))
    out = _try_repo(project, hook_repo, pre_commit_home)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "driftbot (models vs. migrations)" in out.stdout and "Passed" in out.stdout

    # a repository whose files are none of models, migrations, alembic.ini: the hook does not run
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "README.md").write_text("# docs\n")
    _git(docs, "init", "-q")
    _git(docs, "add", "-A")
    _git(docs, "commit", "-q", "-m", "docs")
    skipped = _try_repo(docs, hook_repo, pre_commit_home)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "(no files to check)Skipped" in skipped.stdout
