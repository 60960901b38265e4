"""The models' database kept on a long-lived server: the next run copies it and builds only what changed.

Each run on a `url` server keeps its models' database O as `driftbot_models_<key>` with the list of
statements that built it. A run whose list contains a kept list copies that database and runs the
rest; the findings must be those of a run that builds O from scratch (`--no-cache`). To show what was
copied is what is compared, the tests change the models between runs so that a copy without the
rest, or a copy of the wrong build, gives other findings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from test_snapshots import comparable

from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.runs.snapshot_databases import MODELS_PREFIX
from driftbot.settings import Settings

UrlSettings = Callable[..., Settings]

NEW_MODEL = """

class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(50), server_default="100% : done")
"""


def kept_builds(server: Server) -> list[str]:
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (MODELS_PREFIX,))
        return sorted(str(row[0]) for row in rows.fetchall())


def drop_kept_builds(server: Server) -> None:
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        for name in kept_builds(server):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def no_kept_builds(pg_server: Server) -> Iterator[None]:
    """Other tests of this session keep builds too: start and end without any."""
    drop_kept_builds(pg_server)
    yield
    drop_kept_builds(pg_server)


def models_note(report: Report) -> str:
    assert report.cache is not None, report.error
    return report.cache.models


@pytest.mark.usefixtures("no_kept_builds")
def test_a_new_model_is_built_on_a_copy_of_the_kept_build_with_the_cold_runs_findings(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server
) -> None:
    project = make_project("column_missing")
    first = run_check(url_settings(project, suggest=False))
    assert models_note(first) == "" and len(kept_builds(pg_server)) == 1

    with (project / "models.py").open("a") as models:
        models.write(NEW_MODEL)  # no migration makes it: new drift, found only if the rest of the list ran
    pr = run_check(url_settings(project, suggest=False))
    cold = run_check(url_settings(project, suggest=False, cache=False))

    assert (
        models_note(pr) == "copied a kept build, then ran 1 statement(s)"
    )  # CREATE TABLE notes (its default a literal with % and :)
    assert ("table_missing", "notes") in [(f.kind, f.table) for f in pr.findings]
    assert comparable(pr) == comparable(cold)
    assert len(kept_builds(pg_server)) == 2  # half of the PR's list was not kept: its build is kept too

    again = run_check(url_settings(project, suggest=False))
    assert models_note(again) == "copied a kept build, then ran 0 statement(s)"  # the PR's, whole
    assert comparable(again) == comparable(cold)


@pytest.mark.usefixtures("no_kept_builds")
def test_a_kept_build_holding_anything_this_run_does_not_declare_is_not_copied(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server
) -> None:
    project = make_project("column_missing")
    models = project / "models.py"
    declared = models.read_text()
    models.write_text(declared + NEW_MODEL)
    run_check(url_settings(project, suggest=False))  # kept: users and notes
    models.write_text(declared)  # the model is gone again: a copy would still hold its table

    removed = run_check(url_settings(project, suggest=False))
    cold = run_check(url_settings(project, suggest=False, cache=False))

    assert models_note(removed) == ""
    assert "notes" not in {f.table for f in removed.findings}
    assert comparable(removed) == comparable(cold)


@pytest.mark.usefixtures("no_kept_builds")
def test_a_kept_build_dropped_from_the_server_is_not_looked_for_and_a_failing_rest_builds_from_scratch(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server
) -> None:
    project = make_project("column_missing")
    first = run_check(url_settings(project, suggest=False))
    drop_kept_builds(pg_server)
    assert len(list((Path(os.environ["DRIFTBOT_SNAPSHOT_DIR"]) / "models").glob("*.json"))) == 1

    gone = run_check(url_settings(project, suggest=False))
    assert models_note(gone) == "" and comparable(gone) == comparable(first)

    # a kept build that holds more than its list says (here: the table a new model adds): the rest of the
    # list fails on the copy, and the run builds the models' database from scratch
    run_check(url_settings(project, suggest=False))
    with (project / "models.py").open("a") as models:
        models.write(NEW_MODEL)
    (kept,) = kept_builds(pg_server)
    with psycopg.connect(libpq_conninfo(pg_server.admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{kept}" ALLOW_CONNECTIONS true')
    with psycopg.connect(libpq_conninfo(pg_server.admin_url.set(database=kept)), autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id integer)")
    with psycopg.connect(libpq_conninfo(pg_server.admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{kept}" ALLOW_CONNECTIONS false')

    refused = run_check(url_settings(project, suggest=False))
    cold = run_check(url_settings(project, suggest=False, cache=False))
    assert models_note(refused) == "" and comparable(refused) == comparable(cold)
    assert ("table_missing", "notes") in [(f.kind, f.table) for f in refused.findings]


@pytest.mark.usefixtures("no_kept_builds")
def test_a_copy_that_needed_little_more_is_not_kept_again(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server
) -> None:
    project = make_project("column_missing")
    models = project / "models.py"
    many = "".join(NEW_MODEL.replace("Note", f"Note{i}").replace('"notes"', f'"notes{i}"') for i in range(12))
    models.write_text(models.read_text() + many)
    run_check(url_settings(project, suggest=False))
    models.write_text(models.read_text() + NEW_MODEL)

    pr = run_check(url_settings(project, suggest=False))

    assert models_note(pr) == "copied a kept build, then ran 1 statement(s)"
    assert len(kept_builds(pg_server)) == 1  # main's build serves the PR's next push as well
