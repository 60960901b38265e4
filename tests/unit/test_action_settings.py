"""The action's Settings from INPUT_* / GITHUB_*, the mode from the event, and main's usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftbot.action.modes import find_mode
from driftbot.action.settings import InvalidInputs, Settings
from driftbot.action.worker import scrubbed_environ
from driftbot.errors import EXIT_USAGE, ConfigError

TOKEN = "ghs_0123456789abcdefSECRET"
CONTEXT = {
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_EVENT_PATH": "/github/workflow/event.json",
    "GITHUB_REPOSITORY": "octo/shop",
    "GITHUB_WORKSPACE": "/github/workspace",
    "GITHUB_RUN_ID": "77",
    "GITHUB_OUTPUT": "/github/file_commands/out",
    "GITHUB_STEP_SUMMARY": "/github/file_commands/sum",
}


def environ(**inputs: str) -> dict[str, str]:
    """The runner's environment: inputs as INPUT_<NAME> with the name upper-cased, hyphens kept."""
    return (
        CONTEXT | {"INPUT_GITHUB-TOKEN": TOKEN} | {f"INPUT_{k.replace('_', '-').upper()}": v for k, v in inputs.items()}
    )


def test_inputs_are_read_with_hyphens_kept() -> None:
    s = Settings.from_environ(
        environ(
            working_directory="backend",
            config="conf/alembic.ini",
            metadata="app.models:Base",
            url_env="DATABASE_URL, APP_DB",
            install="pip install -r requirements.txt",
            postgres="docker",
            postgres_version="16",
            fail_on="error",
            comment="off",
            suggest="false",
            id="api",
            report_path="out/report.json",
        )
    )
    assert s.github_token.value == TOKEN
    assert s.project_dir == Path("/github/workspace/backend")
    assert s.config == Path("conf/alembic.ini") and s.metadata == "app.models:Base"
    assert s.url_env == ("DATABASE_URL", "APP_DB")
    assert (s.postgres, s.postgres_version, s.fail_on) == ("docker", 16, "error")
    assert (s.comment, s.suggest, s.comment_id) == (False, False, "api")
    assert s.in_workspace(s.report_path) == Path("/github/workspace/out/report.json")
    assert s.run_url == "https://github.com/octo/shop/actions/runs/77"
    assert s.summary_file == Path("/github/file_commands/sum")


def test_empty_inputs_take_the_defaults() -> None:
    """The runner passes every input, unset ones as empty strings (or action.yml's default)."""
    s = Settings.from_environ(environ(mode="", working_directory="", postgres="", fail_on="", comment=""))
    assert (s.mode, s.working_directory, s.postgres, s.fail_on, s.comment) == (None, Path("."), "auto", "drift", True)
    assert s.url_env == ("DATABASE_URL",) and s.report_path == Path("driftbot-report.json")


def test_the_token_never_shows() -> None:
    s = Settings.from_environ(environ(database_url="postgresql://u:dbSECRETpw@db:5432/postgres"))
    for text in (
        str(s),
        repr(s),
        str(s.github_token),
        repr(s.github_token),
        f"{s.github_token}",
        str(s.database_url),
        repr(s.database_url),
    ):
        assert TOKEN not in text and "dbSECRETpw" not in text
    assert s.database_url is not None and "dbSECRETpw" in s.database_url.value


def test_every_invalid_input_is_reported_at_once() -> None:
    bad = environ(
        fail_on="sometimes",
        comment="maybe",
        postgres="mysql",
        postgres_version="sixteen",
        working_directory="../elsewhere",
        metadata="models",
        url_env="DATABASE-URL",
        id="a b",
        database_url="mysql://root:rootSECRET@db/x",
        mode="deploy",
    )
    with pytest.raises(InvalidInputs) as caught:
        Settings.from_environ(bad)
    problems = caught.value.problems
    named = {p.split(":")[0] for p in problems}
    assert named == {
        "fail-on",
        "comment",
        "postgres",
        "postgres-version",
        "working-directory",
        "metadata",
        "url-env",
        "id",
        "database-url",
        "mode",
    }
    assert caught.value.exit_code == EXIT_USAGE
    assert "rootSECRET" not in str(caught.value)  # a bad URL is not echoed: it may carry a password


def test_missing_runner_context_and_contradictions_are_named() -> None:
    env = {"INPUT_GITHUB-TOKEN": TOKEN, "INPUT_POSTGRES": "url"}
    with pytest.raises(InvalidInputs) as caught:
        Settings.from_environ(env)
    text = str(caught.value)
    assert "GITHUB_REPOSITORY" in text and "GITHUB_EVENT_NAME" in text and "GITHUB_EVENT_PATH" in text
    assert "database-url" in text


@pytest.mark.parametrize(
    ("event", "payload", "mode"),
    [
        ("pull_request", {}, "check"),
        ("push", {}, "check"),
        ("merge_group", {}, "check"),
        ("workflow_dispatch", {}, "check"),
        ("workflow_run", {}, "publish"),
        ("issue_comment", {"issue": {"pull_request": {}}}, "commit"),
    ],
)
def test_mode_follows_the_event(event: str, payload: dict[str, object], mode: str) -> None:
    assert find_mode(event, payload) == mode


def test_mode_input_overrides_and_unsafe_or_unknown_events_are_refused() -> None:
    assert find_mode("workflow_dispatch", {}, "publish") == "publish"
    with pytest.raises(ConfigError, match="pull_request_target"):
        find_mode("pull_request_target", {})
    with pytest.raises(ConfigError, match="release"):
        find_mode("release", {})


def test_worker_environment_keeps_nothing_token_like() -> None:
    env = {
        "PATH": "/usr/bin",
        "INPUT_GITHUB-TOKEN": TOKEN,
        "GITHUB_TOKEN": TOKEN,
        "ACTIONS_RUNTIME_TOKEN": "r",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
        "NPM_TOKEN": "n",
        "GITHUB_ENV": "/f",
        "GITHUB_OUTPUT": "/o",
        "COPY": f"Bearer {TOKEN}",
        "APP_SETTING": "kept",
        "DRIFTBOT_DATABASE_URL": "postgresql://x",
    }
    assert scrubbed_environ(env, [TOKEN]) == {"PATH": "/usr/bin", "APP_SETTING": "kept"}


def run_action(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftbot.action"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_action_exits_2_with_one_error_line_for_bad_inputs(tmp_path: Path) -> None:
    done = run_action(environ(fail_on="sometimes", comment="maybe"), tmp_path)
    assert done.returncode == EXIT_USAGE
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "fail-on" in errors[0] and "comment" in errors[0]
    assert TOKEN not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_action_refuses_pull_request_target(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    done = run_action(
        environ() | {"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_EVENT_PATH": str(event)}, tmp_path
    )
    assert done.returncode == EXIT_USAGE
    assert "::error" in done.stdout and "pull_request_target" in done.stdout
