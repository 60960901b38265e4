"""The trust boundary: PR code (install, migrations, models) never sees a GitHub token.

A planted migration (tests/fixtures/projects/worker_snoop) reads its environment, its
parent's and PID 1's /proc/<pid>/environ and the checkout's .git/config, and writes all it
found into a table comment, which comes back in driftbot's own report. The action runs in
its container as the runner runs it, with the workflow token, the runtime and OIDC tokens
and a token-named secret in its environment; the test proves the loot holds none of them,
and that the snoop did run (it saw an ordinary variable, and its uid).
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from action_container import ActionRunner
from fakegithub import BOT, FakeGitHub
from fakegithub.events import event_payload
from fakegithub.pytest_plugin import fake_github

__all__ = ["fake_github"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "projects"
SECRETS = {
    "GITHUB_TOKEN": "ghs_SECRETworkflowTOKEN000000000000001",
    "ACTIONS_RUNTIME_TOKEN": "eyJSECRETruntimeTOKEN000000000000002",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "eyJSECREToidcTOKEN00000000000000003",
    "DEPLOY_TOKEN": "SECRETdeployTOKEN0000000000000000004",
    "GH_AUTH_ALIAS": "ghs_faketoken0000000000000000000000000",  # the input's value, under a name without TOKEN
}
CHECKOUT_CREDENTIAL = "x-access-token:ghs_SECRETcheckoutTOKEN0000000005"


def snooping_checkout(workspace: Path) -> None:
    """The PR's files as actions/checkout leaves them, token in .git/config included."""
    for layer in ("_base", "worker_snoop"):
        shutil.copytree(FIXTURES / layer, workspace / "backend", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (workspace / ".git").mkdir(parents=True)
    (workspace / ".git" / "config").write_text(
        '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic '
        f"{CHECKOUT_CREDENTIAL}\n")


def loot_of(workspace: Path) -> dict[str, Any]:
    report = json.loads((workspace / "driftbot-report.json").read_text())
    [finding] = [f for f in report["findings"] if f["kind"] == "table_comment_changed"]
    text: str = finding["migrations"]
    assert text.startswith("SNOOP "), "the planted migration did not run"
    loot: dict[str, Any] = json.loads(text.removeprefix("SNOOP "))
    return loot


def assert_no_secret(*texts: str) -> None:
    everything = "\n".join(texts)
    for name, value in SECRETS.items():
        assert value not in everything, f"{name} leaked"
    assert "SECRETcheckoutTOKEN" not in everything, "the checkout's credential leaked"


@pytest.fixture
def pull(fake_github: FakeGitHub) -> tuple[FakeGitHub, int, str]:
    base = fake_github.add_repo("octo/shop")
    base.branch("snoop", "main")
    head = base.commit("snoop", {"backend/migrations/versions/0001_snoop.py": "# planted\n"})
    return fake_github, fake_github.open_pull(base, "snoop").number, head


def run_snoop(runner: ActionRunner, number: int, head: str, *, user: str | None = None,
              install: str = "") -> Any:
    payload = event_payload("pull_request_opened.json", **{
        "number": number, "pull_request.number": number, "pull_request.head.sha": head,
        "pull_request.head.ref": "snoop"})
    runner.env.update(SECRETS, SNOOP_CANARY="visible")
    return runner.run("pull_request", payload, {"working-directory": "backend", "install": install}, user=user)


def test_pr_code_finds_no_token_as_the_container_runs_it(pull: tuple[FakeGitHub, int, str], tmp_path: Path) -> None:
    fake, number, head = pull
    runner = ActionRunner(tmp_path / "job", fake.token, fake.url)
    snooping_checkout(runner.workspace)
    install = "env; echo '::error::forged by the pull request'; id -u"

    run = run_snoop(runner, number, head, install=install)

    assert run.returncode == 1, run.stdout + run.stderr  # drift: the table comment the snoop wrote
    loot = loot_of(runner.workspace)
    assert loot["uid"] != 0, "PR code ran as root"
    assert loot["env"]["SNOOP_CANARY"] == "visible"  # it could read its environment...
    assert not [k for k in loot["env"] if k.startswith(("INPUT_", "ACTIONS_")) or "TOKEN" in k.upper()]
    assert loot["parent_environ"] == "PermissionError"  # ... but not its parent's
    assert loot["pid1_environ"] == "PermissionError"
    assert loot["git_config"] == {"/github/workspace/.git/config": "PermissionError"}
    assert stat.S_IMODE((runner.workspace / ".git").stat().st_mode) == 0o755  # opened again afterwards
    # the install command ran in the same worker: its `env` has no token, its workflow command is fenced off
    assert "SNOOP_CANARY=visible" in run.stdout
    fence = r"^::stop-commands::(\w+)$(.*?)^::\1::$"
    fenced = [m.group(2) for m in re.finditer(fence, run.stdout, re.M | re.S)]
    assert any("\n::error::forged by the pull request\n" in text for text in fenced)
    assert "\n::error::forged" not in re.sub(fence, "", run.stdout, flags=re.M | re.S)
    comments = [c.body for c in fake.comments(fake.world.repo("octo/shop"), number, BOT)]
    assert comments, "the comment was posted (with the loot, escaped)"
    assert_no_secret(json.dumps(loot), run.stdout, run.stderr, run.summary, *comments,
                     (runner.workspace / "driftbot-report.json").read_text())


def test_same_user_worker_cannot_read_the_parent_environment(pull: tuple[FakeGitHub, int, str],
                                                             tmp_path: Path) -> None:
    """Started as an unprivileged user, the worker runs as that same user: the orchestrator's
    /proc files are closed to it (non-dumpable), and its environment is scrubbed."""
    fake, number, head = pull
    runner = ActionRunner(tmp_path / "job", fake.token, fake.url)
    for layer in ("_base", "worker_snoop"):
        shutil.copytree(FIXTURES / layer, runner.workspace / "backend", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))

    run = run_snoop(runner, number, head, user="driftbot")

    assert run.returncode == 1, run.stdout + run.stderr
    loot = loot_of(runner.workspace)
    assert loot["uid"] != 0 and loot["env"]["SNOOP_CANARY"] == "visible"
    assert loot["parent_environ"] == "PermissionError"
    assert loot["pid1_environ"] == "PermissionError"
    assert not [k for k in loot["env"] if k.startswith(("INPUT_", "ACTIONS_")) or "TOKEN" in k.upper()]
    assert_no_secret(json.dumps(loot), run.stdout, run.stderr, run.summary)
