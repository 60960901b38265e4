"""Stopping driftbot (SIGTERM, Ctrl-C) mid-migration leaves no server, directory or database behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from driftbot.postgres.base import Server, libpq_conninfo


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "driftbot", "check", *args, "--debug"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )


def interruptible() -> None:
    """Ctrl-C reaches the child even when the test run itself ignores SIGINT (a background job
    without job control inherits SIG_IGN, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read_until(proc: subprocess.Popen[str], marker: str, seen: list[str], timeout: float = 60) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return
    pytest.fail(f"never saw {marker!r}; output:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_local_server_is_removed_when_stopped(make_project: Callable[[str], Path], signum: int) -> None:
    project = make_project("slow_migration")
    proc = _start([str(project), "--postgres", "local"], project)
    seen: list[str] = []
    _read_until(proc, "migration running", seen)
    workdir = next(m.group(1) for line in seen if (m := re.search(r"ready on port \d+ \((.+)\)", line)))
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == (143 if signum == signal.SIGTERM else 130), "".join(seen) + out
    assert "Traceback" not in out
    assert not Path(workdir).exists()
    leftovers = subprocess.run(["pgrep", "-f", workdir], capture_output=True, text=True).stdout
    assert leftovers == ""


# a run's scratch databases; snapshot copies other tests kept on this shared server are meant to stay
SCRATCH_DATABASES = (  # not the copies runs keep on the server for later runs
    "SELECT datname FROM pg_database WHERE datname LIKE 'driftbot\\_%' AND NOT starts_with(datname, 'driftbot_snapshot_')"
    " AND NOT starts_with(datname, 'driftbot_models_')"
)


def test_scratch_databases_are_dropped_when_stopped(
    make_project: Callable[[str], Path], pg_server: Server, pg_url: str
) -> None:
    project = make_project("slow_migration")
    before = _scratch_databases(pg_server)  # a killed run of another test on this server leaves its own
    proc = _start([str(project), "--postgres", "url", "--database-url", pg_url], project)
    try:
        seen: list[str] = []
        _read_until(proc, "migration running", seen)
        assert len(_scratch_databases(pg_server) - before) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 143, "".join(seen) + out
    finally:
        proc.kill()
        proc.communicate()
    assert _scratch_databases(pg_server) - before == set()


def _scratch_databases(server: Server) -> set[str]:
    with psycopg.connect(libpq_conninfo(server.admin_url)) as conn:
        return {name for (name,) in conn.execute(SCRATCH_DATABASES)}
