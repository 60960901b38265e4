"""The trust boundary: PR code (install, migrations, models) never sees a GitHub token.

A planted migration (tests/fixtures/projects/worker_snoop) reads its environment, its
parent's and PID 1's /proc/<pid>/environ and the checkout's .git/config, and writes all it
found into a table comment, which comes back in driftbot's own report. The action runs in
its container as the runner runs it, with the workflow token, the runtime and OIDC tokens
and a token-named secret in its environment; the test proves the loot holds none of them,
and that the snoop did run (it saw an ordinary variable, and its uid).

Another (tests/fixtures/projects/worker_detach) leaves a detached process behind that keeps
reading the checkout's .git/config, a nested checkout's, and a 0600 credentials file after
the worker returned: run_in_worker, as root on this machine, must leave no process of the
worker's account alive, keep every .git closed, and change no mode in the workspace.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from action_container import ActionRunner, action_image, docker
from fakegithub import BOT, FakeGitHub
from fakegithub.events import event_payload
from fakegithub.pytest_plugin import fake_github

from driftbot.action import worker
from driftbot.action.worker import run_in_worker, worker_account
from driftbot.errors import InfrastructureError
from driftbot.settings import Secret, Settings

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
        shutil.copytree(
            FIXTURES / layer, workspace / "backend", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    (workspace / ".git").mkdir(parents=True)
    (workspace / ".git" / "config").write_text(
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {CHECKOUT_CREDENTIAL}\n'
    )


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


def run_snoop(runner: ActionRunner, number: int, head: str, *, user: str | None = None, install: str = "") -> Any:
    payload = event_payload(
        "pull_request_opened.json",
        **{
            "number": number,
            "pull_request.number": number,
            "pull_request.head.sha": head,
            "pull_request.head.ref": "snoop",
        },
    )
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
    assert_no_secret(
        json.dumps(loot),
        run.stdout,
        run.stderr,
        run.summary,
        *comments,
        (runner.workspace / "driftbot-report.json").read_text(),
    )


def test_same_user_worker_cannot_read_the_parent_environment(pull: tuple[FakeGitHub, int, str], tmp_path: Path) -> None:
    """Started as an unprivileged user, the worker runs as that same user: the orchestrator's
    /proc files are closed to it (non-dumpable), and its environment is scrubbed."""
    fake, number, head = pull
    runner = ActionRunner(tmp_path / "job", fake.token, fake.url)
    for layer in ("_base", "worker_snoop"):
        shutil.copytree(
            FIXTURES / layer,
            runner.workspace / "backend",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )

    run = run_snoop(runner, number, head, user="driftbot")

    assert run.returncode == 1, run.stdout + run.stderr
    loot = loot_of(runner.workspace)
    assert loot["uid"] != 0 and loot["env"]["SNOOP_CANARY"] == "visible"
    assert loot["parent_environ"] == "PermissionError"
    assert loot["pid1_environ"] == "PermissionError"
    assert not [k for k in loot["env"] if k.startswith(("INPUT_", "ACTIONS_")) or "TOKEN" in k.upper()]
    assert_no_secret(json.dumps(loot), run.stdout, run.stderr, run.summary)


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="a separate worker account is used only as root")
NESTED_CREDENTIAL = "x-access-token:ghs_SECRETnestedTOKEN00000000006"
CLOUD_CREDENTIAL = '{"type": "external_account", "token": "SECRETcloudTOKEN0000000007"}'


@pytest.fixture(scope="session")
def worker_python() -> Iterator[str]:
    """A Python the worker account can run: ours, or (ours is under a closed home, as pyenv's in
    /root) a venv of the system's Python of the same version that imports our site-packages."""
    account = worker_account()
    assert account is not None
    try:
        subprocess.run(
            [sys.executable, "-c", "import driftbot"], user=account.uid, group=account.gid, extra_groups=[], check=True
        )
        yield sys.executable
        return
    except (OSError, subprocess.CalledProcessError):
        pass
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    if system is None:
        pytest.skip("no Python the worker account can run")
    with tempfile.TemporaryDirectory(prefix="driftbot-worker-python-") as tmp:
        os.chmod(tmp, 0o755)
        venv = Path(tmp) / "venv"
        subprocess.run([system, "-m", "venv", "--without-pip", str(venv)], check=True)
        theirs = sysconfig.get_path("purelib", scheme="venv", vars={"base": str(venv), "platbase": str(venv)})
        site = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
        (Path(theirs) / "zz-ours.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in site))
        yield str(venv / "bin" / "python")


@pytest.fixture
def as_worker(worker_python: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", worker_python)  # run_in_worker starts the worker with it


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory others may enter, as a runner's workspace is (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="driftbot-isolation-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def detaching_checkout(workspace: Path) -> list[Path]:
    """The project, a checkout's .git with the token, a nested checkout (actions/checkout `path: sub`)
    and a credentials file another step wrote 0600 (google-github-actions/auth): what the detached
    process goes for."""
    for layer in ("_base", "worker_detach"):
        shutil.copytree(
            FIXTURES / layer, workspace / "backend", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    secrets_ = {
        ".git/config": f"[http]\n\textraheader = AUTHORIZATION: basic {CHECKOUT_CREDENTIAL}\n",
        "sub/.git/config": f"[http]\n\textraheader = AUTHORIZATION: basic {NESTED_CREDENTIAL}\n",
        "gha-creds-x.json": CLOUD_CREDENTIAL,
    }
    for name, text in secrets_.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)
    (workspace / "sub" / "README.md").write_text("# another repository\n")
    os.chmod(workspace / "gha-creds-x.json", 0o600)
    return [workspace / name for name in secrets_]


def modes(root: Path) -> dict[str, int]:
    """Every mode in the tree (.git included, links not followed) and of the directories above it."""
    found = {str(p): p.lstat().st_mode for p in (root, *root.parents)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found[os.path.join(dirpath, name)] = os.lstat(os.path.join(dirpath, name)).st_mode
    return found


def processes_of(uid: int) -> list[str]:
    """The live (not zombie) processes whose real, effective or saved uid is `uid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if not status.get("State", "").strip().startswith(("Z", "X")) and str(uid) in status["Uid"].split()[:3]:
            found.append(f"{entry.name} {status['Name'].strip()}")
    return found


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
def test_a_process_that_outlives_the_worker_finds_no_token(
    pg_url: str, open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = worker_account()
    assert account is not None
    workspace, loot = open_dir / "workspace", open_dir / "loot" / "loot.jsonl"
    loot.parent.mkdir(mode=0o777)
    os.chmod(loot.parent, 0o777)
    targets = detaching_checkout(workspace)
    monkeypatch.setenv("DETACH_LOOT", str(loot))
    monkeypatch.setenv("DETACH_TARGETS", os.pathsep.join(map(str, targets)))
    before = modes(workspace)
    settings = Settings(project_dir=workspace / "backend", postgres="url", database_url=Secret(pg_url))

    report = run_in_worker(settings, share=workspace, stream=io.StringIO())
    survivors = processes_of(account.uid)
    time.sleep(1.5)  # the detached process, were it alive, reads every 0.1 s

    assert report.status == "clean", report.error
    assert survivors == [], "processes of the worker's account outlived it"
    lines = [json.loads(line) for line in loot.read_text().splitlines()]
    assert lines[0]["uid"] == account.uid, "the detached process did not start"
    tried = [result for line in lines[1:] for path, result in line.items() if path in map(str, targets)]
    assert tried and set(tried) <= {"PermissionError", "FileNotFoundError"}, tried
    assert "SECRET" not in loot.read_text()
    assert modes(workspace) == before, "a mode in the workspace changed"


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
def test_report_paths_name_the_workspace_not_the_worker_copy(pg_url: str, open_dir: Path) -> None:
    workspace = open_dir / "workspace"
    for layer in ("_base", "column_missing"):
        shutil.copytree(
            FIXTURES / layer, workspace / "backend", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    settings = Settings(project_dir=workspace / "backend", postgres="url", database_url=Secret(pg_url))

    report = run_in_worker(settings, share=workspace, stream=io.StringIO())

    assert report.status == "drift", report.error
    assert report.project is not None and report.project.root == str(workspace / "backend")
    assert report.project.config_file == str(workspace / "backend" / "alembic.ini")
    assert all(f.source.file.startswith(f"{workspace}/backend/") for f in report.findings if f.source)
    assert report.suggestion is not None
    assert report.suggestion.path.startswith(f"{workspace}/backend/migrations/versions/")


@ROOT_ONLY
def test_a_background_process_holding_the_output_is_killed_with_the_command() -> None:
    account = worker_account()
    assert account is not None
    started = time.monotonic()

    code = worker._run(
        ["sh", "-c", "sleep 30 & echo started"],
        Path("/"),
        {"PATH": os.defpath},
        account,
        io.StringIO(),
        title="background",
    )

    assert code == 0
    assert time.monotonic() - started < 10, "the command's output stayed open for its background process"
    assert processes_of(account.uid) == []


def test_output_without_a_final_newline_still_ends_the_fence() -> None:
    out = io.StringIO()

    worker._run(["printf", "%s", "::warning::glued"], Path("/"), {"PATH": os.defpath}, None, out, title="no newline")

    lines = out.getvalue().splitlines()
    fence = lines[1].removeprefix("::stop-commands::")
    assert lines == [
        "::group::no newline",
        f"::stop-commands::{fence}",
        "::warning::glued",
        f"::{fence}::",
        "::endgroup::",
    ]


def test_a_process_that_outlives_the_worker_finds_no_token_in_the_container(
    pull: tuple[FakeGitHub, int, str], tmp_path: Path
) -> None:
    fake, number, head = pull
    runner = ActionRunner(tmp_path / "job", fake.token, fake.url)
    targets = detaching_checkout(runner.workspace)
    (runner.workspace / "loot").mkdir()
    os.chmod(runner.workspace / "loot", 0o777)
    inside = [f"/github/workspace/{t.relative_to(runner.workspace)}" for t in targets]
    runner.env.update(DETACH_LOOT="/github/workspace/loot/loot.jsonl", DETACH_TARGETS=os.pathsep.join(inside))
    before = modes(runner.workspace)

    run = run_snoop(runner, number, head)

    assert run.returncode == 0, run.stdout + run.stderr
    after = modes(runner.workspace)
    assert {path: after.get(path) for path in before} == before, "a mode in the workspace changed"
    loot = (runner.workspace / "loot" / "loot.jsonl").read_text()
    lines = [json.loads(line) for line in loot.splitlines()]
    assert lines[0]["uid"] != 0, "the detached process did not start (or ran as root)"
    tried = [result for line in lines[1:] for path, result in line.items() if path in inside]
    assert tried and set(tried) <= {"PermissionError", "FileNotFoundError"}, tried
    assert_no_secret(loot, run.stdout, run.stderr, run.summary)
    assert NESTED_CREDENTIAL not in loot and "SECRETcloudTOKEN" not in loot


NOT_ROOT_RUN = """
import io, os, sys, time
from pathlib import Path
from driftbot.action import worker
daemon = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    if os.fork() == 0:\\n        time.sleep(30)\\n    os._exit(0)\\n"
worker._run([sys.executable, "-c", daemon], Path("/"), {"PATH": os.defpath}, None, io.StringIO(), title="daemon")
print(os.getuid(), ",".join(str(p.pid) for p in worker.processes() if not p.zombie and p.uids[0] == os.getuid()
                            and p.pid != os.getpid()))
"""


@ROOT_ONLY
def test_not_root_the_workers_daemon_is_killed_too(worker_python: str) -> None:
    """Not root, the worker runs as us: a double-forked, setsid daemon is still found (we are its
    subreaper) and killed; only the test's own process of that account is left."""
    account = worker_account()
    assert account is not None
    started = time.monotonic()
    done = subprocess.run(
        [worker_python, "-c", NOT_ROOT_RUN],
        user=account.uid,
        group=account.gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )

    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20, "the command waited for its daemon"
    uid, left = done.stdout.split()[0], done.stdout.split()[1:]
    assert uid == str(account.uid) and left == [], f"left running: {left}"
    assert processes_of(account.uid) == []


@ROOT_ONLY
def test_a_worker_kills_only_its_own_accounts_processes() -> None:
    """Two workers on one machine run as two accounts (DRIFTBOT_WORKER_ACCOUNT): the kill after a
    command takes every process of its account, and none of the other's."""
    account = worker_account()
    other = pwd.getpwnam("nobody")
    assert account is not None and account.uid != other.pw_uid
    neighbour = subprocess.Popen(["sleep", "60"], user=other.pw_uid, group=other.pw_gid, extra_groups=[], cwd="/")
    try:
        code = worker._run(["sleep", "0"], Path("/"), {"PATH": os.defpath}, account, io.StringIO(), title="short")
        assert code == 0
        assert neighbour.poll() is None, "the other account's process was killed"
        assert processes_of(account.uid) == []
    finally:
        neighbour.kill()
        neighbour.wait()


@ROOT_ONLY
def test_the_host_workers_kill_spares_a_running_action_container() -> None:
    """The host sees a container's processes and a kill by uid reaches them: the image's `driftbot`
    has a uid no host worker account has, so a host worker's kill after its command leaves a
    running action alone (CI once lost a container's check to it: both accounts were uid 999)."""
    account = worker_account()
    assert account is not None
    started = docker("run", "-d", "--rm", "--user", "driftbot", "--entrypoint", "sleep", action_image(), "120")
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        uid = docker("exec", container, "id", "-u").stdout.strip()
        assert uid and int(uid) != account.uid
        code = worker._run(["sleep", "0"], Path("/"), {"PATH": os.defpath}, account, io.StringIO(), title="short")
        assert code == 0
        assert docker("inspect", "--format", "{{.State.Running}}", container).stdout.strip() == "true"
    finally:
        docker("rm", "--force", container)


def test_a_named_worker_account_must_exist_and_not_be_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # the account is looked up only as root
    monkeypatch.setenv(worker.WORKER_ACCOUNT_ENV, "driftbot-no-such-account")
    with pytest.raises(InfrastructureError, match=r"driftbot-no-such-account.*does not exist"):
        worker_account()
    monkeypatch.setenv(worker.WORKER_ACCOUNT_ENV, "root")
    with pytest.raises(InfrastructureError, match="root account"):
        worker_account()
    monkeypatch.setenv(worker.WORKER_ACCOUNT_ENV, "nobody")
    chosen = worker_account()
    assert chosen is not None and (chosen.name, chosen.uid) == ("nobody", pwd.getpwnam("nobody").pw_uid)
