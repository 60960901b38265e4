"""The local provider: fast boots from a cached data directory, still private and throwaway;
version choice among the machine's binaries; `driftbot cleanup` after a killed run."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from driftbot.postgres.base import libpq_conninfo
from driftbot.postgres.datadir import template_dir
from driftbot.postgres.local import (
    OWNER_FILE,
    WORKDIR_PREFIX,
    available_binaries,
    find_binaries,
    local_server,
    workdir_parent,
)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(cache))
    monkeypatch.delenv("DRIFTBOT_PG_CACHE", raising=False)
    yield cache


def _boot_and_query() -> None:
    with local_server() as server, psycopg.connect(libpq_conninfo(server.admin_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_second_boot_copies_the_cached_data_directory(cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    binaries = find_binaries()
    assert binaries is not None
    caplog.set_level(logging.DEBUG, logger="driftbot.postgres")
    _boot_and_query()
    assert "data directory by initdb" in caplog.text
    template = template_dir(binaries.bindir, binaries.version_line)
    assert (template / "PG_VERSION").read_text().strip() == str(binaries.major)
    caplog.clear()
    for _ in range(3):
        _boot_and_query()
    assert caplog.text.count("data directory by cache") == 3
    # how fast that is: benchmarks/boot.py (speed is measured in benchmarks, not in tests)


def test_cache_switched_off_runs_initdb(
    cache_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTBOT_PG_CACHE", "0")
    caplog.set_level(logging.DEBUG, logger="driftbot.postgres")
    _boot_and_query()
    assert "data directory by initdb" in caplog.text
    assert not (cache_dir / "pgdata").exists()


def test_each_server_gets_its_own_password_and_stays_private(cache_dir: Path) -> None:
    with local_server() as first, local_server() as second:
        assert first.admin_url.password != second.admin_url.password
        # the cached template holds no password: one server's password does not open the other
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(libpq_conninfo(second.admin_url.set(password=first.admin_url.password)))
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(
                host="127.0.0.1", port=second.admin_url.port, user="postgres", dbname="postgres", passfile="/dev/null"
            )
        with psycopg.connect(libpq_conninfo(second.admin_url)) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            socket_dir = Path(str(conn.execute("SHOW unix_socket_directories").fetchone()[0]))  # type: ignore[index]
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            # read while the connection is open: its backend process exits with it
            uid = next(
                int(line.split()[1])
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("Uid:")
            )
        assert socket_dir.name.startswith(WORKDIR_PREFIX) and socket_dir.stat().st_mode & 0o077 == 0
        assert uid != 0 and (os.geteuid() == 0 or uid == os.geteuid())
    assert not socket_dir.exists()


def test_a_damaged_cache_costs_an_initdb_not_the_run(cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    binaries = find_binaries()
    assert binaries is not None
    template = template_dir(binaries.bindir, binaries.version_line)
    template.mkdir(parents=True)
    (template / "PG_VERSION").write_text(f"{binaries.major}\n")
    os.mkfifo(template / "pipe")  # not a data directory a copy can be made of
    caplog.set_level(logging.DEBUG, logger="driftbot.postgres")
    _boot_and_query()
    assert "cannot copy the cached data directory" in caplog.text
    assert "data directory by initdb" in caplog.text
    assert not (template / "pipe").exists() and (template / "global" / "pg_control").is_file()  # stored afresh
    caplog.clear()
    _boot_and_query()
    assert "data directory by cache" in caplog.text


def test_version_choice_picks_the_binaries_of_that_major(cache_dir: Path, make_project: Callable[[str], Path]) -> None:
    majors = sorted({b.major for b in available_binaries()})
    assert majors, "no local PostgreSQL binaries"
    project = make_project("column_missing")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftbot",
            "check",
            str(project),
            "--postgres",
            "local",
            "--postgres-version",
            str(majors[0]),
            "--no-suggest",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["postgres"]["provider"] == "local"
    assert report["postgres"]["version"].split(".")[0] == str(majors[0])


def test_a_version_without_binaries_is_a_clear_error(make_project: Callable[[str], Path]) -> None:
    project = make_project("column_missing")
    out = subprocess.run(
        [sys.executable, "-m", "driftbot", "check", str(project), "--postgres", "local", "--postgres-version", "9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 4
    found = available_binaries()[0]
    text = out.stdout + out.stderr  # the report says what failed
    assert "no local PostgreSQL 9 server binaries found" in text
    assert f"found {found.version} in {found.bindir}" in text
    assert "apt install postgresql" in text and "Traceback" not in text


def test_cleanup_stops_and_removes_what_a_killed_run_left(make_project: Callable[[str], Path]) -> None:
    project = make_project("slow_migration")
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftbot", "check", str(project), "--postgres", "local", "--debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    workdir = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "ready on port" in line:
            workdir = Path(line.rsplit("(", 1)[1].rstrip(")\n"))
        if "migration running" in line:
            break
    assert workdir is not None and workdir.parent == workdir_parent()
    assert (workdir / OWNER_FILE).read_text().strip() == str(proc.pid)
    postmaster = int((workdir / "data" / "postmaster.pid").read_text().splitlines()[0])

    # a live run's directory is kept
    kept = subprocess.run([sys.executable, "-m", "driftbot", "cleanup"], capture_output=True, text=True, timeout=60)
    assert f"kept {workdir}: driftbot process {proc.pid} is still running" in kept.stdout
    assert workdir.exists()

    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait(timeout=10)
    proc.stdout.close()
    assert workdir.exists() and Path(f"/proc/{postmaster}").exists()

    done = subprocess.run([sys.executable, "-m", "driftbot", "cleanup"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {workdir} (driftbot process {proc.pid} is gone)" in done.stdout
    assert not workdir.exists()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
        status = (
            Path(f"/proc/{postmaster}/stat").read_text().split()[2] if Path(f"/proc/{postmaster}").exists() else "X"
        )
        if status == "Z":
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{postmaster}").exists() or status == "Z"
