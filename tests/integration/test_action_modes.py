"""The action's publish and commit modes (no PR code runs in them), as processes against the fake GitHub.

`python -m driftbot.action` with the runner's environment: GITHUB_* context, one INPUT_* per
input of action.yml, the event file. Publish treats the artifact as untrusted data: size cap,
schema, PR found from the trusted payload and still at the analysed head.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakegithub import BOT, FakeGitHub
from fakegithub.events import event_payload
from fakegithub.state import Repo

from driftbot.action.publish import ARTIFACT_MAX_BYTES
from driftbot.action.worker import read_report
from driftbot.github.comments import marker, read_marker
from driftbot.report.comment import CommentContext, render_comment

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / "golden" / "drift" / "report.json"
BRANCH = "add-nickname"


def run_action(
    fake: FakeGitHub, workspace: Path, event_name: str, payload: dict[str, Any], **inputs: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "event.json").write_text(json.dumps(payload))
    (workspace / "summary.md").write_text("")
    (workspace / "output.txt").write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(workspace / "event.json"),
        "GITHUB_REPOSITORY": "octo/shop",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "9001",
        "GITHUB_OUTPUT": str(workspace / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(workspace / "summary.md"),
    }
    given = {"github-token": fake.token, "working-directory": "backend", **inputs}
    for name, spec in yaml.safe_load((ROOT / "action.yml").read_text())["inputs"].items():
        default = str(spec.get("default", ""))
        env[f"INPUT_{name.upper()}"] = given.get(name, "" if "${{" in default else default)
    done = subprocess.run(
        [sys.executable, "-m", "driftbot.action"],
        env=env,
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, (workspace / "summary.md").read_text()


@pytest.fixture
def fork_pull(fake_github: FakeGitHub) -> tuple[FakeGitHub, Repo, Repo, int, str]:
    base = fake_github.add_repo("octo/shop")
    fork = fake_github.fork(base, "mallory/shop")
    fork.branch(BRANCH, "main")
    head = fork.commit(BRANCH, {"backend/models.py": "# the PR's models\n"})
    number = fake_github.open_pull(base, BRANCH, head=fork, user="mallory").number
    return fake_github, base, fork, number, head


def workflow_run(fake: FakeGitHub, base: Repo, fork: Repo, head: str) -> dict[str, Any]:
    run = fake.add_run(base, head_repo=fork, head_branch=BRANCH, conclusion="failure")
    return event_payload(
        "workflow_run_completed.json",
        **{"workflow_run.id": run.id, "workflow_run.head_sha": head, "workflow_run.head_branch": BRANCH},
    )


def test_publish_posts_the_fork_comment_and_status_from_the_artifact(fork_pull: Any, tmp_path: Path) -> None:
    fake, base, fork, number, head = fork_pull
    payload = workflow_run(fake, base, fork, head)
    (tmp_path / "ws" / "artifact").mkdir(parents=True)
    (tmp_path / "ws" / "artifact" / "driftbot-report.json").write_bytes(REPORT.read_bytes())

    done, summary = run_action(
        fake, tmp_path / "ws", "workflow_run", payload, **{"report-path": "artifact/driftbot-report.json"}
    )

    assert done.returncode == 0, done.stdout + done.stderr
    [comment] = fake.comments(base, number, BOT)
    assert read_marker(comment.body).sha == head and "public.users.display_name" in comment.body
    assert "Commit this migration to" not in comment.body  # the token cannot push to a fork
    [status] = fake.statuses(base, head, "driftbot")
    assert (
        status.state == "failure"
        and status.target_url == f"https://github.com/octo/shop/actions/runs/{payload['workflow_run']['id']}"
    )
    assert "public.users.display_name" in summary
    assert fake.token not in done.stdout + done.stderr


def test_publish_retries_a_github_5xx(fork_pull: Any, tmp_path: Path) -> None:
    fake, base, fork, number, head = fork_pull
    payload = workflow_run(fake, base, fork, head)
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "driftbot-report.json").write_bytes(REPORT.read_bytes())
    fake.fail_next(1, 502, method="POST", path_contains="/comments")

    done, _ = run_action(fake, tmp_path / "ws", "workflow_run", payload)

    assert done.returncode == 0, done.stdout + done.stderr
    assert len(fake.comments(base, number, BOT)) == 1
    assert len(fake.requests("POST", "/comments")) == 2  # the 502, then the retry


@pytest.mark.parametrize("artifact", ["oversized", "not_json", "not_a_report", "injected_field"])
def test_publish_refuses_an_artifact_that_is_not_a_driftbot_report(
    fork_pull: Any, tmp_path: Path, artifact: str
) -> None:
    fake, base, fork, number, head = fork_pull
    payload = workflow_run(fake, base, fork, head)
    report = json.loads(REPORT.read_text())
    valid = REPORT.read_bytes()
    data = {
        # a valid report padded with JSON whitespace past the cap: only the size cap refuses it
        "oversized": valid + b" " * (ARTIFACT_MAX_BYTES + 1 - len(valid)),
        "not_json": b"<html>pwned</html>",
        "not_a_report": json.dumps(report | {"status": "pwned"}).encode(),
        "injected_field": json.dumps(report | {"findings": [report["findings"][0] | {"html": "<script>"}]}).encode(),
    }[artifact]
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "driftbot-report.json").write_bytes(data)

    done, _ = run_action(fake, tmp_path / "ws", "workflow_run", payload)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "::error" in done.stdout and "driftbot-report.json" in done.stdout
    if artifact == "oversized":
        assert "larger than" in done.stdout
    assert fake.comments(base, number) == [] and fake.statuses(base, head) == []


@pytest.mark.parametrize(
    "path",
    [
        "/github/workspace/backend/conftest.py",
        "/github/workspace/setup.py",
        "/github/workspace/backend/migrations/versions/x\n::error::forged.py",
    ],
)
def test_publish_refuses_a_migration_path_outside_the_versions_directory(
    fork_pull: Any, tmp_path: Path, path: str
) -> None:
    """The artifact picks the file the comment offers: only a migration in the versions directory."""
    fake, base, fork, number, head = fork_pull
    payload = workflow_run(fake, base, fork, head)
    report = json.loads(REPORT.read_text())
    report["suggestion"]["path"] = path
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "driftbot-report.json").write_text(json.dumps(report))

    done, _ = run_action(fake, tmp_path / "ws", "workflow_run", payload)

    assert done.returncode == 2, done.stdout + done.stderr
    [error] = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert "versions directory" in error
    assert not any(line.startswith("::error::forged") for line in done.stdout.splitlines())
    assert fake.comments(base, number) == [] and fake.statuses(base, head) == []


def test_publish_does_nothing_when_the_pr_moved_on(fork_pull: Any, tmp_path: Path) -> None:
    fake, base, fork, number, head = fork_pull
    payload = workflow_run(fake, base, fork, head)
    fork.commit(BRANCH, {"backend/models.py": "# pushed again\n"})  # a newer run will publish
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "driftbot-report.json").write_bytes(REPORT.read_bytes())

    done, _ = run_action(fake, tmp_path / "ws", "workflow_run", payload)

    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.comments(base, number) == [] and fake.statuses(base, head) == []


def test_publish_without_artifact_is_a_no_op(fork_pull: Any, tmp_path: Path) -> None:
    fake, base, fork, number, head = fork_pull
    done, _ = run_action(fake, tmp_path / "ws", "workflow_run", workflow_run(fake, base, fork, head))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not fake.requests("POST") and fake.comments(base, number) == []


@pytest.fixture
def commented_pull(fake_github: FakeGitHub) -> tuple[FakeGitHub, Repo, int, str, str]:
    """A same-repository PR with driftbot's comment carrying the verified migration."""
    base = fake_github.add_repo("octo/shop")
    base.branch(BRANCH, "main")
    head = base.commit(BRANCH, {"backend/models.py": "# the PR's models\n"})
    number = fake_github.open_pull(base, BRANCH).number
    ctx = CommentContext(repository="octo/shop", head_sha=head, branch=BRANCH, project_path="backend")
    body = render_comment(read_report(REPORT), ctx, marker("default", head))
    fake_github.add_comment(base, number, BOT, body)
    return fake_github, base, number, head, body


def command_event(fake: FakeGitHub, base: Repo, number: int, user: str) -> dict[str, Any]:
    command = fake.add_comment(base, number, user, "/driftbot commit")
    who = fake.world.user(user)  # the account as GitHub's payload names it: login, id, type
    return event_payload(
        "issue_comment_created.json",
        **{
            "comment.id": command.id,
            "comment.body": command.body,
            "comment.user.login": user,
            "comment.user.id": who.id,
            "comment.user.type": who.type,
            "sender.login": user,
            "sender.id": who.id,
            "sender.type": who.type,
            "issue.number": number,
        },
    )


def test_commit_mode_commits_for_a_writer(commented_pull: Any, tmp_path: Path) -> None:
    fake, base, number, head, _ = commented_pull
    base.set_permission("alice", "maintain")
    done, summary = run_action(fake, tmp_path / "ws", "issue_comment", command_event(fake, base, number, "alice"))
    assert done.returncode == 0, done.stdout + done.stderr
    new_head = base.ref(BRANCH)
    assert new_head != head and fake.statuses(base, new_head, "driftbot")[-1].state == "success"
    path = json.loads(REPORT.read_text())["suggestion"]["path"].replace("/github/workspace/", "")
    assert base.file(BRANCH, path) == json.loads(REPORT.read_text())["suggestion"]["content"]
    assert "committed" in summary


def test_commit_mode_refuses_a_commenter_without_write_permission(commented_pull: Any, tmp_path: Path) -> None:
    fake, base, number, head, _ = commented_pull
    base.set_permission("bob", "triage")
    done, _ = run_action(fake, tmp_path / "ws", "issue_comment", command_event(fake, base, number, "bob"))
    assert done.returncode == 0, done.stdout + done.stderr  # a polite refusal is not a failed job
    assert base.ref(BRANCH) == head
    assert fake.comments(base, number, BOT)[-1].body.startswith("Sorry")


def test_commit_mode_refuses_when_the_head_moved(commented_pull: Any, tmp_path: Path) -> None:
    fake, base, number, _, _ = commented_pull
    base.set_permission("alice", "write")
    moved = base.commit(BRANCH, {"README.md": "# moved\n"})
    done, _ = run_action(fake, tmp_path / "ws", "issue_comment", command_event(fake, base, number, "alice"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert base.ref(BRANCH) == moved
    assert "new commits since" in fake.comments(base, number, BOT)[-1].body
