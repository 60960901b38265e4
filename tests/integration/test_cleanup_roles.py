"""`driftbot cleanup` drops the `driftbot_*` scratch roles a killed run left on a server driftbot started
and that is kept (its own run goes on), with the databases they own; roles it did not make are left."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from driftbot.errors import InfrastructureError
from driftbot.postgres import cleanup
from driftbot.postgres.base import ROLE_COMMENT, Server, scratch_role
from tests.helpers import libpq, sql

# a local server owned by a driftbot process that goes on running (until its stdin closes)
HOLDER = """
import json, sys
from driftbot.postgres.local import local_server
with local_server() as server:
    print(json.dumps([server.admin_url.render_as_string(hide_password=False), server.version]), flush=True)
    sys.stdin.read()
"""

# a `detect --fix` killed while it works on a copy: its role and the database it owns stay behind
CRASH = """
import json, os, signal, sys
from sqlalchemy.engine import make_url
from driftbot.postgres.base import Server, scratch_database, scratch_role
url, version = json.loads(sys.stdin.read())
server = Server(make_url(url), "local", version)
with scratch_role(server) as role, scratch_database(server, "copy", owner=role) as copy:
    print(json.dumps([role.name, copy.database]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def kept_server() -> Iterator[tuple[Server, Path, int]]:
    """The server, its work directory and the pid of the driftbot process that owns it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    url, version = json.loads(holder.stdout.readline())
    server = Server(make_url(url), "local", version)
    port = server.admin_url.port
    workdir = next(
        d
        for d in cleanup.work_directories()
        if (d / "data" / "postmaster.pid").is_file()
        and (d / "data" / "postmaster.pid").read_text().splitlines()[3] == str(port)
    )
    yield server, workdir, holder.pid
    holder.stdin.close()
    holder.wait(timeout=30)
    holder.stdout.close()
    assert not workdir.exists()  # the holder's own run removed its server


def names(server: Server, catalog: str) -> set[str]:
    """The driftbot_* roles (catalog "role") or databases ("database") on the server."""
    query = (
        "SELECT rolname FROM pg_roles WHERE rolname LIKE 'driftbot%'"
        if catalog == "role"
        else "SELECT datname FROM pg_database WHERE datname LIKE 'driftbot%'"
    )
    with psycopg.connect(libpq(server.admin_url)) as conn:
        return {str(r) for (r,) in conn.execute(query)}  # type: ignore[arg-type]


def crashed_run(server: Server) -> tuple[str, str]:
    """The role and the database of a run that was killed (SIGKILL: no finally ran)."""
    url = server.admin_url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", CRASH],
        input=json.dumps([url, server.version]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr
    role, database = json.loads(done.stdout)
    return role, database


def run_cleanup(monkeypatch: pytest.MonkeyPatch, workdir: Path, dry_run: bool) -> int:
    """`driftbot cleanup` on this work directory only (the machine's other runs are not this test's)."""

    def no_engine(timeout: float) -> None:
        raise InfrastructureError("not this test's containers")

    monkeypatch.setattr(cleanup, "work_directories", lambda: [workdir])
    monkeypatch.setattr(cleanup, "connect", no_engine)
    return cleanup.run_cleanup(argparse.Namespace(remove_all=False, cache=False, dry_run=dry_run))


def test_cleanup_drops_a_killed_runs_role_and_its_database_on_a_kept_server(
    kept_server: tuple[Server, Path, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server, workdir, owner = kept_server
    admin = server.admin_url.render_as_string(hide_password=False)
    role, database = crashed_run(server)
    other_host = ROLE_COMMENT.format(pid=2**22 + 1, host="another-machine")
    sql(
        admin,
        'CREATE ROLE "driftbot_by_hand"',  # no comment of driftbot's: not one it made
        'CREATE ROLE "driftbot_elsewhere"',
        f"COMMENT ON ROLE \"driftbot_elsewhere\" IS '{other_host}'",
    )
    with scratch_role(server) as running:  # a run that goes on (this process)
        assert {role, running.name} <= names(server, "role") and database in names(server, "database")

        assert run_cleanup(monkeypatch, workdir, dry_run=True) == 0
        out = capsys.readouterr().out
        assert f"kept {workdir}: driftbot process {owner} is still running" in out
        assert f"  would drop role {role} on {workdir} (its driftbot process is gone)" in out
        assert role in names(server, "role")

        assert run_cleanup(monkeypatch, workdir, dry_run=False) == 0
        out = capsys.readouterr().out
        assert f"  dropped role {role} on {workdir} (its driftbot process is gone)" in out
        assert out.count("dropped role") == 1
        assert names(server, "role") == {running.name, "driftbot_by_hand", "driftbot_elsewhere"}
        assert database not in names(server, "database")
        assert workdir.exists()  # the server itself is kept
    assert names(server, "role") == {"driftbot_by_hand", "driftbot_elsewhere"}
