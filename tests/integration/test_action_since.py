"""The action's `since` (driftbot/action/base.py): git on the trusted side, on a real repository.

The files changed since the pull request's base are those between the merge base and HEAD;
a base that is not in the checkout is a warning naming the SHA and the fix, not a failure;
and a checkout whose .git/config and hooks are set to run a program runs none of them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from driftbot.action.base import Since, changed_since, resolve_since
from driftbot.action.settings import InvalidInputs, Settings

MISSING = "0123456789abcdef0123456789abcdef01234567"


def git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(repo.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """main: the project with revision 0001; the PR's branch adds 0002; main then moves on (0003 there)."""
    repo = tmp_path / "ws"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(
        repo,
        {
            "backend/alembic.ini": "[alembic]\n",
            "backend/migrations/versions/0001_a.py": "# 1\n",
            "README.md": "# shop\n",
        },
        "base",
    )
    git(repo, "checkout", "-q", "-b", "pr")
    commit(
        repo,
        {
            "backend/migrations/versions/0002_b.py": "# 2\n",
            "backend/models.py": "# models\n",
            "docs/notes.md": "outside the project\n",
        },
        "the PR",
    )
    git(repo, "checkout", "-q", "main")
    later = commit(repo, {"backend/migrations/versions/0003_main.py": "# 3, on main after the branch\n"}, "main")
    git(repo, "checkout", "-q", "pr")
    return repo, base, later


def test_the_files_changed_since_the_merge_base_relative_to_the_project(repo: tuple[Path, str, str]) -> None:
    ws, base, later = repo
    expected = ("migrations/versions/0002_b.py", "models.py", "../docs/notes.md")  # in git's order
    assert changed_since(base, ws / "backend", ws) == expected
    # main moved on: what main added after the branch point is not the PR's
    assert changed_since(later, ws / "backend", ws) == expected
    assert resolve_since("base", base, ws / "backend", ws).since == Since(base, expected)
    assert resolve_since("main", None, ws / "backend", ws).since == Since("main", expected)


def test_a_base_missing_from_the_checkout_is_one_warning_naming_the_sha_and_the_fix(
    repo: tuple[Path, str, str],
) -> None:
    ws, _, _ = repo
    resolved = resolve_since("base", MISSING, ws / "backend", ws)
    assert resolved.since is None
    assert resolved.warning is not None and "\n" not in resolved.warning
    assert MISSING in resolved.warning and "fetch-depth: 0" in resolved.warning
    assert f"git fetch --depth=1 origin {MISSING}" in resolved.warning
    # no checkout at all: the same warning
    plain = ws.parent / "plain"
    (plain / "backend").mkdir(parents=True)
    assert resolve_since("base", MISSING, plain / "backend", plain).warning == resolved.warning


def test_no_review_when_turned_off_or_without_a_pull_request(repo: tuple[Path, str, str]) -> None:
    ws, base, _ = repo
    assert resolve_since(None, base, ws / "backend", ws) == resolve_since("base", None, ws / "backend", ws)
    assert resolve_since(None, base, ws / "backend", ws).since is None
    assert resolve_since("base", None, ws / "backend", ws).warning is None
    # not a commit here: a revision id, for the worker to resolve
    assert resolve_since("0001", None, ws / "backend", ws).since == Since("0001", None)


@pytest.mark.parametrize(
    ("raw", "since"),
    [
        ("", "base"),
        ("base", "base"),
        ("none", None),
        ("OFF", None),
        ("origin/main", "origin/main"),
        ("0002abcd", "0002abcd"),
    ],
)
def test_the_since_input(raw: str, since: str | None) -> None:
    env = {
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": "/e.json",
        "INPUT_SINCE": raw,
    }
    assert Settings.from_environ(env).since == since


@pytest.mark.parametrize("raw", ["--output=/tmp/x", "main branch", "a\x01b"])
def test_a_since_input_that_is_no_ref_is_refused(raw: str) -> None:
    env = {
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": "/e.json",
        "INPUT_SINCE": raw,
    }
    with pytest.raises(InvalidInputs, match=r"since: .* is not `base`, `none`, a git ref or a revision id"):
        Settings.from_environ(env)


HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "post-checkout",
    "post-merge",
    "reference-transaction",
    "post-index-change",
    "pre-auto-gc",
    "post-rewrite",
    "fsmonitor-watchman",
)


def plant(ws: Path, marker: Path) -> None:
    """A checkout whose .git/config, hooks and attributes each run a program that leaves `marker`."""
    tool = ws / ".git" / "pwn.sh"
    tool.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat >/dev/null 2>&1\nexit 0\n')
    tool.chmod(0o755)
    hooks = ws / ".git" / "evil-hooks"
    hooks.mkdir()
    for name in HOOKS:
        for directory in (hooks, ws / ".git" / "hooks"):
            (directory / name).write_text(f"#!/bin/sh\necho hook {name} >> {marker}\n")
            (directory / name).chmod(0o755)
    with (ws / ".git" / "config").open("a") as fh:
        fh.write(
            f"[core]\n\tfsmonitor = {tool}\n\thooksPath = {hooks}\n\tpager = {tool}\n"
            f"\tsshCommand = {tool}\n\taskPass = {tool}\n"
            f'[diff]\n\texternal = {tool}\n[diff "pwn"]\n\ttextconv = {tool}\n\tcommand = {tool}\n'
            f'[filter "pwn"]\n\tclean = {tool}\n\tsmudge = {tool}\n'
            f"[pager]\n\tdiff-tree = {tool}\n\tdiff = {tool}\n[credential]\n\thelper = !{tool}\n"
            f"[alias]\n\trev-parse = !{tool}\n\tdiff-tree = !{tool}\n"
        )
    (ws / ".git" / "info").mkdir(exist_ok=True)
    (ws / ".git" / "info" / "attributes").write_text("* diff=pwn filter=pwn\n")
    (ws / ".gitattributes").write_text("* diff=pwn filter=pwn\n")
    (ws / "backend" / "models.py").write_text("# changed in the working tree: the index is stale\n")


def test_a_checkout_set_to_run_programs_runs_none(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    ws, base, _ = repo
    marker = tmp_path / "marker"
    plant(ws, marker)
    # the trap is real: ordinary git commands on this checkout run the planted programs
    for args in (["status"], ["diff", base]):
        subprocess.run(
            ["git", "-C", str(ws), *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
        )
    assert marker.exists(), "the planted configuration does not trigger: the test proves nothing"
    marker.unlink()

    resolved = resolve_since("base", base, ws / "backend", ws)

    assert not marker.exists(), marker.read_text()
    assert resolved.since is not None and "migrations/versions/0002_b.py" in (resolved.since.changed or ())
    assert resolve_since("base", MISSING, ws / "backend", ws).warning is not None
    assert not marker.exists(), marker.read_text()
