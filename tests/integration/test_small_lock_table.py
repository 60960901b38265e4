"""A server with a small shared lock table (a workflow's `services:` PostgreSQL has max_locks_per_transaction = 64).

The migrations run in one transaction and the models' database is built in another: beside each
other they need the lock slots of both. driftbot reads the server's lock table and, where it is
small, builds the models after the migrations, a slice of tables per transaction. Measured here:
300 tables on a server with max_locks_per_transaction = 16 (1,600 slots) fail with "out of shared
memory" when both run at once, and pass planned.
"""

from __future__ import annotations

import sys
from pathlib import Path

from driftbot.postgres.local import local_server
from driftbot.runs.check import run_check
from driftbot.settings import Secret, Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from generate import generate

SMALL_LOCK_TABLE = {"max_locks_per_transaction": "16", "max_connections": "100"}


def test_a_big_project_passes_on_a_server_with_a_small_lock_table(tmp_path: Path) -> None:
    project = tmp_path / "project"
    generate(300, 2, project)
    with local_server(settings=SMALL_LOCK_TABLE) as server:
        settings = Settings(
            project_dir=project,
            postgres="url",
            suggest=False,
            cache=False,
            database_url=Secret(server.admin_url.render_as_string(hide_password=False)),
        )
        report = run_check(settings)
    assert report.error is None, report.error
    assert report.exit_code == 0 and report.findings == ()  # the generated project has no drift
    assert report.migrations is not None and len(report.migrations.applied) == 2
