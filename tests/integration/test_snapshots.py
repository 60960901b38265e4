"""Snapshots of migration prefixes: a cached run gives the same answer as a cold one, and runs only what is new.

Every fixture project is checked twice on one snapshot cache: the second run restores the
migrations' database at the head and runs nothing, and its findings are exactly the cold run's.
On a few, the suggestion and its verification are compared too. A chain 0001 → 0002 → 0003 shows
that a new revision runs alone on top of the cached prefix, and that editing a revision (or
env.py) invalidates exactly the snapshots after it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_drift_scenarios import EXPECTED

from driftbot.report.model import Report, to_dict
from driftbot.runs.check import run_check
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
