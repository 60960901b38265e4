"""Shared fixtures: one real PostgreSQL per test session, started by driftbot's own local provider.

Fixture projects live in tests/fixtures/projects/: `_base` holds alembic.ini, env.py and
script.py.mako; a scenario directory holds only what differs (models.py, versions/, and an
env.py or alembic.ini of its own where the scenario is about those).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from driftbot.action.worker import WORKER_ACCOUNT_ENV
from driftbot.postgres.base import Server
from driftbot.postgres.local import local_server
from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.settings import Secret, Settings

PROJECTS = Path(__file__).parent / "fixtures" / "projects"
TEST_WORKER_UIDS = 47100  # driftbot-main, then driftbot-gw0 = 47101, ...


@pytest.fixture(autouse=True)
def _own_snapshot_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty snapshot cache (tests of the cache share one on purpose)."""
    monkeypatch.setenv("DRIFTBOT_SNAPSHOT_DIR", str(tmp_path_factory.mktemp("snapshots")))


@pytest.fixture(scope="session", autouse=True)
def _own_worker_account() -> Iterator[None]:
    """As root, each xdist worker's PR code runs as an account of its own: the worker kills every
    process of its account after each command, so a shared one would kill the other tests' checks."""
    if os.geteuid() != 0:
        yield
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"driftbot-{worker}"
    # uids of their own: a kill by uid reaches the action containers' processes too (the host sees
    # them), so a uid the image's `driftbot` has (48771), or another worker's, would end their runs
    uid = TEST_WORKER_UIDS + (int(worker.removeprefix("gw")) + 1 if worker.startswith("gw") else 0)
    add = ["useradd", "--uid", str(uid), "--user-group", "--no-create-home", "--home-dir", "/nonexistent", name]
    for attempt in range(20):  # useradd refuses while another worker's useradd holds /etc/passwd's lock
        try:
            pwd.getpwnam(name)
            break
        except KeyError:
            if subprocess.run(add, check=False).returncode != 0:
                time.sleep(0.1 * (attempt + 1))
    else:
        pytest.fail(f"could not create the worker account {name}")
    if pwd.getpwnam(name).pw_uid != uid:
        pytest.fail(f"the worker account {name} exists with another uid than {uid}: userdel {name}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WORKER_ACCOUNT_ENV, name)
        yield


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    with local_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg_server: Server) -> str:
    return pg_server.admin_url.render_as_string(hide_password=False)


def materialize(scenario: str, dest: Path) -> Path:
    """A full Alembic project in `dest`: the base files with the scenario's files on top."""
    shutil.copytree(PROJECTS / "_base", dest, dirs_exist_ok=True)
    shutil.copytree(PROJECTS / scenario, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[str], Path]:
    def make(scenario: str) -> Path:
        return materialize(scenario, tmp_path / scenario)

    return make


@pytest.fixture
def url_settings(pg_url: str) -> Callable[..., Settings]:
    def settings(project: Path, **changes: object) -> Settings:
        base = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url))
        return base.replace(**changes)

    return settings


@pytest.fixture
def check_fixture(make_project: Callable[[str], Path], url_settings: Callable[..., Settings]) -> Callable[..., Report]:
    """Run the engine on a fixture project against the session's server."""

    def check(scenario: str, **changes: object) -> Report:
        return run_check(url_settings(make_project(scenario), **changes))

    return check
