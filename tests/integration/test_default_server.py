"""A server with PostgreSQL's default settings (`max_locks_per_transaction = 64`), as a workflow's
`services:` container runs it: the docker provider's image (DRIFTBOT_TEST_PG_IMAGE, the official
image's contract) without any of driftbot's own server settings, shared by this module's tests.

There the migrations' transaction and a models' build beside it do not both fit in the shared lock
table: 1,000 tables in 3 revisions fail with "out of shared memory" at the second revision when both
run at once (checked by hand with the planning switched off: CONCURRENT_BUILD_LOCK_SLOTS = 0), while
the migrations alone pass. driftbot reads the table's size and builds the models after the
migrations, in slices.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from driftbot.postgres import container
from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.postgres.container import docker_server
from driftbot.runs.check import run_check
from driftbot.runs.scratch import CONCURRENT_BUILD_LOCK_SLOTS
from driftbot.settings import Secret, Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from generate import generate

IMAGE = os.environ.get("DRIFTBOT_TEST_PG_IMAGE", "postgres:15")
pytestmark = pytest.mark.xdist_group("default_server")  # one container for the module (with --dist loadgroup)


@pytest.fixture(scope="module")
def default_server() -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(container, "CONTAINER_SETTINGS", {})  # the image's own postgresql.conf, untouched
        with docker_server(IMAGE, timeout=120) as server:
            yield server


def setting(server: Server, name: str) -> int:
    with psycopg.connect(libpq_conninfo(server.admin_url)) as conn:
        row = conn.execute("SELECT current_setting(%s)::int", (name,)).fetchone()
        assert row is not None
        return int(row[0])


def test_the_server_has_postgresql_defaults(default_server: Server) -> None:
    slots = setting(default_server, "max_locks_per_transaction") * setting(default_server, "max_connections")
    assert setting(default_server, "max_locks_per_transaction") == 64
    assert slots < CONCURRENT_BUILD_LOCK_SLOTS  # so driftbot plans the models' build after the migrations


def test_a_project_that_would_exhaust_the_lock_table_passes(default_server: Server, tmp_path: Path) -> None:
    project = tmp_path / "project"
    generate(1000, 3, project)
    settings = Settings(
        project_dir=project,
        postgres="url",
        suggest=False,
        cache=False,
        database_url=Secret(default_server.admin_url.render_as_string(hide_password=False)),
    )
    report = run_check(settings)
    assert report.error is None, report.error
    assert report.exit_code == 0 and report.findings == ()  # the generated project has no drift
    assert report.migrations is not None and len(report.migrations.applied) == 3
