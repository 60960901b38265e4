"""`driftbot detect --github-issue` against the fake GitHub: one issue, opened, updated, closed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fakegithub.server import FakeGitHub

from driftbot.cli.main import main
from driftbot.postgres.base import Server, scratch_database

MakeProject = Callable[[str], Path]


@pytest.fixture
def live(pg_server: Server) -> Iterator[Callable[[], str]]:
    """Fresh databases on the session's server, standing in for production."""
    with ExitStack() as stack:

        def make() -> str:
            return stack.enter_context(scratch_database(pg_server, "live")).render_as_string(hide_password=False)

        yield make


def deploy(project: Path, url: str) -> None:
    """`alembic upgrade head` as a deployment runs it."""
    ini = (
        (project / "alembic.ini")
        .read_text()
        .replace("postgresql+psycopg://localhost/placeholder", url.replace("%", "%%"))
    )
    (project / "deploy.ini").write_text(ini)
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "deploy.ini", "upgrade", "head"],
        cwd=project,
        check=True,
        capture_output=True,
    )


def detect(project: Path, live_url: str, pg_url: str, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/shop")
    monkeypatch.setenv("GITHUB_TOKEN", fake.token)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    return main(
        [
            "detect",
            str(project),
            "--database-url",
            live_url,
            "--postgres",
            "url",
            "--scratch-database-url",
            pg_url,
            "--github-issue",
            "--format",
            "json",
            "-o",
            str(project / "report.json"),
        ]
    )


def test_one_issue_opened_updated_and_closed(
    make_project: MakeProject,
    live: Callable[[], str],
    pg_url: str,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = fake_github.add_repo("octo/shop", {"README.md": "shop"})
    fake_github.add_issue(repo, "an unrelated issue", "<!-- driftbot:issue v1 id=production -->", user="mallory")

    drifted = make_project("column_missing")  # the models have users.display_name, production does not
    live_url = live()
    deploy(drifted, live_url)
    assert detect(drifted, live_url, pg_url, fake_github, monkeypatch) == 1
    mine = [i for i in repo.issues.values() if i.user == "github-actions[bot]"]
    assert len(mine) == 1 and mine[0].state == "open"
    assert "public.users.display\\_name" in mine[0].body or "public.users.display_name" in mine[0].body
    assert "<!-- driftbot:issue v1 id=production -->" in mine[0].body
    number = mine[0].number
    assert "issue #" in capsys.readouterr().err

    assert detect(drifted, live_url, pg_url, fake_github, monkeypatch) == 1  # still drifted: the same issue
    mine = [i for i in repo.issues.values() if i.user == "github-actions[bot]"]
    assert [(i.number, i.state) for i in mine] == [(number, "open")]

    clean = make_project("clean_everything")  # a database in line with its models
    clean_url = live()
    deploy(clean, clean_url)
    assert detect(clean, clean_url, pg_url, fake_github, monkeypatch) == 0
    mine = [i for i in repo.issues.values() if i.user == "github-actions[bot]"]
    assert [(i.number, i.state) for i in mine] == [(number, "closed")]
    forged = [i for i in repo.issues.values() if i.user == "mallory"]
    assert [i.state for i in forged] == ["open"]  # someone else's issue with our marker is not ours


def test_a_check_that_could_not_run_leaves_the_issue_alone(
    make_project: MakeProject, pg_url: str, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_github.add_repo("octo/shop", {"README.md": "shop"})
    project = make_project("column_missing")
    dead = "postgresql://postgres:secret@127.0.0.1:1/nowhere"
    assert detect(project, dead, pg_url, fake_github, monkeypatch) == 4
    assert not fake_github.requests("POST") and not fake_github.requests("PATCH")


def test_missing_github_environment_is_a_usage_error(
    make_project: MakeProject, pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    code = main(
        [
            "detect",
            str(make_project("column_missing")),
            "--database-url",
            "postgresql://x@127.0.0.1:1/x",
            "--github-issue",
        ]
    )
    assert code == 2
    assert "GITHUB_REPOSITORY and GITHUB_TOKEN" in capsys.readouterr().err
