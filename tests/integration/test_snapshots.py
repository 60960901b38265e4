"""Snapshots of migration prefixes: a cached run gives the same answer as a cold one, and runs only what is new.

Every fixture project is checked twice on one snapshot cache: the second run restores the
migrations' database at the head and runs nothing, and its findings are exactly the cold run's.
On a few, the suggestion and its verification are compared too. A chain 0001 → 0002 → 0003 shows
that a new revision runs alone on top of the cached prefix, and that editing a revision (or
env.py) invalidates exactly the snapshots after it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_drift_scenarios import EXPECTED

from driftbot.compare.findings import Finding
from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.report.model import Report, to_dict
from driftbot.runs import check
from driftbot.runs.check import run_check
from driftbot.runs.live import client_bindir
from driftbot.runs.scratch import Scratch
from driftbot.runs.snapshot_databases import PREFIX
from driftbot.runs.snapshots import imports_project_code
from driftbot.settings import Settings

PROJECTS = Path(__file__).parents[1] / "fixtures" / "projects"
UrlSettings = Callable[..., Settings]


def comparable(report: Report) -> dict[str, Any]:
    """The report without what differs between any two runs: timings, scratch names, the cache itself."""
    data = to_dict(dataclasses.replace(report, timings={}, cache=None, migrations=None))
    text = repr(data)
    text = re.sub(r"Create Date: [0-9: .-]+", "Create Date: <now>", text)  # alembic stamps the generation time
    return {"report": re.sub(r"driftbot_[0-9a-f]{8}_\w+", "<db>", text)}


def twice(project: Path, settings: UrlSettings, **changes: object) -> tuple[Report, Report]:
    cold = run_check(settings(project, **changes))
    cached = run_check(settings(project, **changes))
    return cold, cached


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_a_cached_run_finds_exactly_what_a_cold_run_finds(
    scenario: str, make_project: Callable[[str], Path], url_settings: UrlSettings
) -> None:
    cold, cached = twice(make_project(scenario), url_settings, suggest=False)

    assert cold.cache is not None and cold.cache.restored is None
    assert cached.cache is not None and cached.cache.restored == cold.project.heads[0]  # type: ignore[union-attr]
    assert cached.migrations is not None and cached.migrations.applied == ()  # nothing ran again
    assert comparable(cached) == comparable(cold)


@pytest.mark.parametrize(
    "scenario",
    ["column_missing", "check_changed", "enum_value_added", "suggest_table_rename", "migration_imports_models"],
)
def test_a_cached_run_suggests_and_verifies_exactly_what_a_cold_run_does(
    scenario: str, url_settings: UrlSettings, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    layers = ("_base", "column_missing", scenario) if scenario == "migration_imports_models" else ("_base", scenario)
    for layer in layers:
        shutil.copytree(PROJECTS / layer, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))

    cold, cached = twice(project, url_settings)

    assert cached.cache is not None and cached.cache.restored is not None
    assert cold.suggestion is not None and cold.suggestion.verified
    assert comparable(cached) == comparable(cold)


REVISION = '''"""{message}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("{column}", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "{column}")
'''


def add_revision(project: Path, rev: str, down: str, column: str, message: str = "add a column") -> Path:
    path = project / "migrations" / "versions" / f"{rev}_{column}.py"
    path.write_text(REVISION.format(message=message, rev=rev, down=down, down_repr=repr(down), column=column))
    return path


def applied(report: Report) -> list[str]:
    assert report.migrations is not None, report.error
    return [a.revision for a in report.migrations.applied]


def test_a_new_revision_runs_alone_and_an_edit_invalidates_exactly_what_follows(
    make_project: Callable[[str], Path], url_settings: UrlSettings
) -> None:
    project = make_project("column_missing")  # 0001 creates users; the models add display_name
    settings = url_settings(project, suggest=False)
    assert applied(run_check(settings)) == ["0001"]

    second = add_revision(project, "0002", "0001", "age")
    after_second = run_check(settings)
    assert after_second.cache is not None and after_second.cache.restored == "0001"
    assert applied(after_second) == ["0002"] and after_second.cache.stored == ("0002",)

    add_revision(project, "0003", "0002", "score")
    after_third = run_check(settings)
    assert after_third.cache is not None and after_third.cache.restored == "0002"
    assert applied(after_third) == ["0003"]

    # editing 0002 invalidates 0002 and 0003, never 0001
    second.write_text(second.read_text().replace("add a column", "add the age column"))
    edited = run_check(settings)
    assert edited.cache is not None and edited.cache.restored == "0001"
    assert applied(edited) == ["0002", "0003"]

    # env.py is part of every key: after an edit nothing is restored
    env_py = project / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + "\n# edited\n")
    cold = run_check(settings)
    assert cold.cache is not None and cold.cache.restored is None
    assert applied(cold) == ["0001", "0002", "0003"]

    # and --no-cache runs cold whatever is cached
    no_cache = run_check(url_settings(project, suggest=False, cache=False))
    assert no_cache.cache is not None and no_cache.cache.restored is None and no_cache.cache.note == "--no-cache"
    assert applied(no_cache) == ["0001", "0002", "0003"]


def test_a_revision_that_imports_the_project_depends_on_the_project_code(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    assert imports_project_code(b"def upgrade():\n    from app.models import User\n", tmp_path)
    assert imports_project_code(b"from . import helpers\n", tmp_path)
    assert not imports_project_code(b"import sqlalchemy as sa\nfrom alembic import op\n", tmp_path)


def test_the_review_starts_from_the_cached_snapshot_of_main(
    make_project: Callable[[str], Path], url_settings: UrlSettings
) -> None:
    project = make_project("column_missing")
    run_check(url_settings(project, suggest=False))  # main's run keeps its head, 0001
    add_revision(project, "0002", "0001", "age")

    report = run_check(url_settings(project, suggest=False, since="0001"))

    assert report.review is not None and [r.revision for r in report.review.revisions] == ["0002"]
    assert "started from the cached snapshot at 0001" in report.review.note
    assert report.review.revisions[0].downgrade.passed


def test_an_archive_restored_while_env_py_runs_gives_the_cold_answer_and_a_damaged_one_runs_cold(
    make_project: Callable[[str], Path], url_settings: UrlSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "0")  # no copies on the server: the archive restores in a thread
    project = make_project("column_missing")
    add_revision(project, "0002", "0001", "age")
    cold, cached = twice(project, url_settings)
    # env.py's first connection waited for the restore: nothing ran again on top of it
    assert cached.cache is not None and cached.cache.restored == "0002" and applied(cached) == []
    assert comparable(cached) == comparable(cold)

    for archive in Path(os.environ["DRIFTBOT_SNAPSHOT_DIR"]).glob("*.dump"):
        archive.write_bytes(b"damaged")
    damaged = run_check(url_settings(project))
    assert damaged.cache is not None and damaged.cache.restored is None
    assert applied(damaged) == ["0001", "0002"] and comparable(damaged) == comparable(cold)


# --- the head's archive is written in the background -----------------------------------------------

PG_DUMP = """#!/bin/sh
# pg_dump as the run calls it, once the run went on to its diff: it holds a connection to the database
# for a moment first (as a slow dump does), then dumps it for real, or fails ({then})
if [ "$1" = "--version" ]; then exec "{real}/pg_dump" "$@"; fi
for arg in "$@"; do case "$arg" in --dbname=*) target="${{arg#--dbname=}}";; esac; done
i=0
while [ ! -e "{went_on}" ]; do
    i=$((i + 1))
    if [ "$i" -gt 150 ]; then echo "pg_dump: error: the run never went on while the archive was written" >&2; exit 1; fi
    sleep 0.1
done
touch "{dumped_after}"
"{real}/psql" -X -q -v ON_ERROR_STOP=1 "--dbname=$target" -c "SELECT pg_sleep(1.5)" >/dev/null || exit 1
{then_command}
"""


def background_pg_dump(server: Server, directory: Path, monkeypatch: pytest.MonkeyPatch, fails: bool = False) -> Path:
    """A bindir whose pg_dump waits until the run reaches its diff (the archive is written meanwhile,
    or never): the file that says it did. Its pg_restore is the real one."""
    real = client_bindir(server.major, server.major)
    bindir, went_on = directory / "bin", directory / "went-on"
    bindir.mkdir()
    then = 'echo "pg_dump: error: could not write to output file: No space left on device" >&2; exit 1'
    script = PG_DUMP.format(
        real=real,
        went_on=went_on,
        dumped_after=directory / "dumped-after-the-diff-began",
        then="it fails" if fails else "the real one",
        then_command=then if fails else f'exec "{real}/pg_dump" "$@"',
    )
    (bindir / "pg_dump").write_text(script)
    (bindir / "pg_dump").chmod(0o755)
    (bindir / "pg_restore").symlink_to(real / "pg_restore")
    monkeypatch.setenv("DRIFTBOT_PG_BINDIR", str(bindir))
    diff = check.compare

    def compare_once_the_run_went_on(settings: Settings, s: Scratch) -> list[Finding]:
        went_on.touch()
        return diff(settings, s)

    monkeypatch.setattr(check, "compare", compare_once_the_run_went_on)
    return directory / "dumped-after-the-diff-began"


def snapshot_databases(server: Server) -> set[str]:
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)).fetchall()
    return {str(row[0]) for row in rows}


@pytest.mark.parametrize("suggest", [False, True], ids=["to-the-end", "until-the-suggestion"])
def test_the_archive_written_while_the_run_goes_on_is_complete_and_a_later_run_restores_it(
    suggest: bool,
    make_project: Callable[[str], Path],
    url_settings: UrlSettings,
    pg_server: Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # the end of the run (M dropped), or the suggestion's copies of M (release() ends every session on
    # it), would end the dump if they did not wait for it; the later run restores the archive itself
    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "0")
    dumped_after = background_pg_dump(pg_server, tmp_path, monkeypatch)
    project = make_project("column_missing")

    cold = run_check(url_settings(project, suggest=suggest))

    assert dumped_after.is_file()  # the run went on to its diff while the archive was written
    assert cold.cache is not None and cold.cache.stored == ("0001",), cold.error
    assert cold.timings["snapshot"] > 0  # the time the run waited for it
    assert not suggest or (cold.suggestion is not None and cold.suggestion.verified)
    cached = run_check(url_settings(project, suggest=suggest))
    assert cached.cache is not None and cached.cache.restored == "0001" and applied(cached) == []
    assert comparable(cached) == comparable(cold)


def test_a_background_store_that_fails_warns_passes_the_check_and_stores_nothing(
    make_project: Callable[[str], Path],
    url_settings: UrlSettings,
    pg_server: Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dumped_after = background_pg_dump(pg_server, tmp_path, monkeypatch, fails=True)
    project = make_project("clean_everything")
    copies_before = snapshot_databases(pg_server)

    with caplog.at_level(logging.WARNING, logger="driftbot"):
        report = run_check(url_settings(project, suggest=False))

    assert dumped_after.is_file()  # it failed in the background, while the run went on
    assert report.error is None and report.status == "clean" and report.exit_code == 0
    assert report.cache is not None and report.cache.stored == ()
    assert [r.getMessage() for r in caplog.records if "could not keep a snapshot" in r.getMessage()] == [
        "could not keep a snapshot for later runs: pg_dump failed: "
        "pg_dump: error: could not write to output file: No space left on device"
    ]
    assert not list(Path(os.environ["DRIFTBOT_SNAPSHOT_DIR"]).glob("*.dump"))  # no archive, no temporary file
    # the server copy made for it is gone (it stands in for no archive); making it may have evicted another
    assert snapshot_databases(pg_server) <= copies_before
