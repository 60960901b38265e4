"""The action as GitHub runs it: the real Dockerfile, built and run like the runner runs a container
action, against the fake GitHub (tests/fakegithub) over real HTTP.

The story of a pull request: drift gets one comment and a red status; a new push updates the
same comment; `/driftbot commit` commits the verified migration to the branch and sets the
status on the new head; the run on that head turns the comment and the status green. Then the
fork path (check writes the report, `workflow_run` publishes it) and a token that may not
comment (the summary says why).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from action_container import TIMINGS, ActionRunner, docker
from canary import scratch_database_with
from fakegithub import BOT, FakeGitHub
from fakegithub.events import event_payload
from fakegithub.pytest_plugin import fake_github
from fakegithub.state import Repo

from driftbot.github.commands import extract_migration
from driftbot.github.comments import read_marker
from driftbot.postgres.base import Server

__all__ = ["fake_github"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
BRANCH = "add-nickname"
PROJECT = "backend"
PG_IMAGE = os.environ.get("DRIFTBOT_TEST_PG_IMAGE", "postgres:15")


def project_files(scenario: str) -> dict[str, str]:
    """The fixture project (`_base` + scenario) as repository files under backend/."""
    files: dict[str, str] = {}
    for layer in ("_base", scenario):
        for path in sorted((FIXTURES / layer).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{PROJECT}/{path.relative_to(FIXTURES / layer)}"] = path.read_text()
    return files


def checkout(workspace: Path, files: dict[str, str]) -> None:
    """What actions/checkout leaves: the files of the head commit (and a .git we don't need here)."""
    if workspace.exists():
        shutil.rmtree(workspace)
    for path, text in files.items():
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).write_text(text)


def pr_event(action: str, number: int, head: str, *, fork: bool = False) -> dict[str, Any]:
    name = f"pull_request_{'fork_' if fork else ''}{'opened' if action == 'opened' else 'synchronize'}.json"
    changes: dict[str, Any] = {
        "number": number,
        "pull_request.number": number,
        "pull_request.head.sha": head,
        "pull_request.head.ref": BRANCH,
    }
    if action == "synchronize":
        changes["after"] = head
    return event_payload(name, **changes)


def driftbot_comments(fake: FakeGitHub, repo: Repo, number: int) -> list[Any]:
    """Comments by the bot that carry driftbot's marker (its replies in the thread don't)."""
    return [c for c in fake.comments(repo, number, BOT) if read_marker(c.body) is not None]


@pytest.fixture
def scene(fake_github: FakeGitHub, tmp_path: Path) -> tuple[FakeGitHub, Repo, ActionRunner]:
    base = fake_github.add_repo("octo/shop", project_files("column_missing") | {"README.md": "# shop\n"})
    base.set_permission("alice", "write")
    runner = ActionRunner(tmp_path / "job", fake_github.token, fake_github.url)
    return fake_github, base, runner


def test_drift_comment_update_commit_and_fixed(scene: tuple[FakeGitHub, Repo, ActionRunner]) -> None:
    fake, base, runner = scene
    files = project_files("column_missing")
    base.branch(BRANCH, "main")
    head = base.commit(BRANCH, {"backend/models.py": files["backend/models.py"] + "\n# nickname soon\n"})
    number = fake.open_pull(base, BRANCH).number
    inputs = {"working-directory": PROJECT}

    # 1. drift: one comment with the verified migration, a red status on the PR head, outputs, exit 1
    checkout(runner.workspace, files)
    first = runner.run("pull_request", pr_event("opened", number, head), inputs, sha="f" * 40)
    assert first.returncode == 1, first.stdout + first.stderr
    [comment] = driftbot_comments(fake, base, number)
    assert "schema drift" in comment.body and "public.users.display_name" in comment.body
    assert read_marker(comment.body).sha == head
    assert "- [ ] Commit this migration to `add-nickname`" in comment.body
    carried = extract_migration(comment.body)
    assert carried is not None, "the comment must carry the migration for the commit command"
    path, content = carried
    assert path.startswith("backend/migrations/versions/") and "op.add_column('users'" in content
    assert [s.state for s in fake.statuses(base, head, "driftbot")] == ["pending", "failure"]
    assert first.outputs["drift"] == "true" and first.outputs["findings"] == "1"
    assert first.outputs["migration-path"] == path and first.outputs["status"] == "drift"
    assert first.outputs["comment-url"].endswith(f"#issuecomment-{comment.id}")
    assert "::error file=backend/models.py,line=" in first.stdout  # the annotation on the model line
    assert "public.users.display_name" in first.summary
    report = json.loads((runner.workspace / "driftbot-report.json").read_text())
    assert report["status"] == "drift" and report["postgres"]["provider"] == "local"
    assert fake.token not in first.stdout + first.stderr + first.summary + json.dumps(report)

    # 2. a new push: the same comment is updated in place (never a second one)
    head2 = base.commit(BRANCH, {"README.md": "# shop, with nicknames\n"})
    second = runner.run("pull_request", pr_event("synchronize", number, head2), inputs)
    assert second.returncode == 1, second.stdout + second.stderr
    [updated] = driftbot_comments(fake, base, number)
    assert updated.id == comment.id and read_marker(updated.body).sha == head2
    assert fake.requests("PATCH", f"/issues/comments/{comment.id}")
    assert fake.statuses(base, head2, "driftbot")[-1].state == "failure"

    # 3. `/driftbot commit`: the migration the comment carries lands on the branch; no PR code runs
    command = fake.add_comment(base, number, "alice", "/driftbot commit")
    event = event_payload(
        "issue_comment_created.json",
        **{
            "comment.id": command.id,
            "comment.body": command.body,
            "comment.user.login": "alice",
            "sender.login": "alice",
            "issue.number": number,
        },
    )
    shutil.rmtree(runner.workspace)  # the commit job checks nothing out
    committed = runner.run("issue_comment", event)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    new_head = base.ref(BRANCH)
    assert new_head != head2
    assert base.file(BRANCH, path) == extract_migration(updated.body)[1]  # type: ignore[index]
    assert fake.statuses(base, new_head, "driftbot")[-1].state == "success"
    assert any(c.body.startswith("Committed") for c in fake.comments(base, number, BOT))
    assert committed.outputs["migration-path"] == path

    # 4. the run on the new head: the same comment says the drift is fixed; the status is green
    checkout(runner.workspace, files | {path: base.file(BRANCH, path) or ""})
    fixed = runner.run("pull_request", pr_event("synchronize", number, new_head), inputs)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    [final] = driftbot_comments(fake, base, number)
    assert final.id == comment.id
    assert "drift fixed" in final.body and "public.users.display_name" not in final.body
    assert read_marker(final.body).sha == new_head
    assert fake.statuses(base, new_head, "driftbot")[-1].state == "success"
    assert fixed.outputs["drift"] == "false"
    print(
        f"container: build {TIMINGS.get('build', 0):.1f}s; runs {first.seconds:.1f}s, {second.seconds:.1f}s, "
        f"commit {committed.seconds:.1f}s, fixed {fixed.seconds:.1f}s"
    )


def test_fork_pr_checks_without_publishing_and_workflow_run_publishes(
    scene: tuple[FakeGitHub, Repo, ActionRunner],
) -> None:
    fake, base, runner = scene
    files = project_files("column_missing")
    fork = fake.fork(base, "mallory/shop")
    fork.branch(BRANCH, "main")
    head = fork.commit(BRANCH, {"backend/models.py": files["backend/models.py"] + "\n# from a fork\n"})
    number = fake.open_pull(base, BRANCH, head=fork, user="mallory").number
    fake.restrict_token(set())  # a fork PR's token is read-only

    # the check: no comment, no status; the report file and a summary that says who publishes
    checkout(runner.workspace, files)
    check = runner.run("pull_request", pr_event("opened", number, head, fork=True), {"working-directory": PROJECT})
    assert check.returncode == 1, check.stdout + check.stderr
    assert fake.comments(base, number) == [] and fake.statuses(base, head) == []
    assert not fake.requests("POST") and not fake.requests("PATCH")
    assert "workflow_run" in check.summary and "driftbot-report.json" in check.summary
    artifact = (runner.workspace / "driftbot-report.json").read_bytes()

    # the publish job (trusted, write token): the artifact in an empty workspace, the run's payload
    fake.restrict_token({"octo/shop"})
    run = fake.add_run(base, head_repo=fork, head_branch=BRANCH, conclusion="failure")
    shutil.rmtree(runner.workspace)
    (runner.workspace / "artifact").mkdir(parents=True)
    (runner.workspace / "artifact" / "driftbot-report.json").write_bytes(artifact)
    payload = event_payload(
        "workflow_run_completed.json",
        **{"workflow_run.id": run.id, "workflow_run.head_sha": head, "workflow_run.head_branch": BRANCH},
    )
    published = runner.run(
        "workflow_run", payload, {"report-path": "artifact/driftbot-report.json", "working-directory": PROJECT}
    )
    assert published.returncode == 0, published.stdout + published.stderr
    [comment] = driftbot_comments(fake, base, number)
    assert "public.users.display_name" in comment.body and read_marker(comment.body).sha == head
    # a fork's branch: no checkbox, but the comment still carries the file (the command replies with the manual steps)
    assert "Commit this migration to" not in comment.body and extract_migration(comment.body) is not None
    assert "fork" in comment.body
    assert fake.statuses(base, head, "driftbot")[-1].state == "failure"
    assert fake.statuses(base, head, "driftbot")[-1].target_url.endswith(f"/actions/runs/{run.id}")


def test_comment_refused_falls_back_to_the_summary(scene: tuple[FakeGitHub, Repo, ActionRunner]) -> None:
    fake, base, runner = scene
    files = project_files("column_missing")
    base.branch(BRANCH, "main")
    head = base.commit(BRANCH, {"backend/models.py": files["backend/models.py"] + "\n# change\n"})
    number = fake.open_pull(base, BRANCH).number
    fake.restrict_token(set())  # `pull-requests: write` and `statuses: write` missing

    checkout(runner.workspace, files)
    run = runner.run("pull_request", pr_event("opened", number, head), {"working-directory": PROJECT})
    assert run.returncode == 1, run.stdout + run.stderr  # drift, not a GitHub failure: the check still counts
    assert fake.comments(base, number) == []
    assert "could not be posted" in run.summary and "pull-requests: write" in run.summary
    assert "statuses: write" in run.summary
    assert "public.users.display_name" in run.summary  # the full report is there instead
    assert "::warning::" in run.stdout


def test_docker_postgres_from_inside_the_action_container(tmp_path: Path) -> None:
    """`postgres: docker` as on a runner: the action's container sits on a job network with the
    engine's socket mounted; the server container joins that network and is removed afterwards."""
    network = f"driftbot-e2e-{tmp_path.name[-12:]}".replace("_", "-")
    assert docker("network", "create", network).returncode == 0
    try:
        runner = ActionRunner(tmp_path / "job", "", "http://127.0.0.1:9")  # push event, no token: no GitHub calls
        checkout(runner.workspace, project_files("column_missing"))
        run = runner.run(
            "push",
            {},
            {"working-directory": PROJECT, "postgres": "docker", "postgres-image": PG_IMAGE},
            network=network,
            docker_socket=True,
        )
        assert run.returncode == 1, run.stdout + run.stderr
        report = json.loads((runner.workspace / "driftbot-report.json").read_text())
        assert report["status"] == "drift" and report["postgres"]["provider"] == "docker"
        assert report["suggestion"]["verified"] is True
        leftovers = docker("ps", "-aq", "--filter", "label=driftbot=1", "--filter", f"network={network}")
        assert leftovers.stdout.strip() == ""
    finally:
        docker("network", "rm", network)


def test_project_code_in_the_action_only_reaches_scratch(
    scene: tuple[FakeGitHub, Repo, ActionRunner], pg_server: Server
) -> None:
    """An env.py that reads the job's APP_DB_URL: the database it names is untouched, the drift still found."""
    fake, base, runner = scene
    databases = scratch_database_with(
        pg_server,
        "canary",
        "CREATE TABLE users (id int PRIMARY KEY, email varchar(255) NOT NULL)",
        "INSERT INTO users VALUES (1, 'ada@example.com')",
    )
    canary = next(databases)
    try:
        files = project_files("column_missing")
        env_py = (FIXTURES / "contained_set_main_option" / "migrations" / "env.py").read_text()
        files[f"{PROJECT}/migrations/env.py"] = env_py
        base.branch(BRANCH, "main")
        head = base.commit(BRANCH, {f"{PROJECT}/migrations/env.py": env_py})
        number = fake.open_pull(base, BRANCH).number
        runner.env.update(APP_DB_URL=canary.url, DATABASE_URL=canary.url)  # the job's `env:` names a real database
        before = canary.dump()
        checkout(runner.workspace, files)

        run = runner.run("pull_request", pr_event("opened", number, head), {"working-directory": PROJECT})

        assert canary.dump() == before
        assert run.returncode == 1, run.stdout + run.stderr
        [comment] = driftbot_comments(fake, base, number)
        assert (
            "public.users.display_name" in comment.body and "(verified)" in comment.body.lower()
        ) or "verified" in comment.body
        assert "Contained" in comment.body and canary.name in comment.body
        assert canary.password not in run.stdout + run.stderr + run.summary + comment.body
    finally:
        next(databases, None)  # drops it
