"""Projects that cannot be checked as they are: the report says where and why, with the right exit code.

Exit codes (driftbot/errors.py): 2 usage/configuration, 3 the project could not be checked.
Messages must point at the user's file and line, not at driftbot's or Alembic's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.settings import Settings


@pytest.fixture
def url_settings(url_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """These tests are about detection: the suggested migration has its own tests (test_suggestion.py)."""

    def settings(project: Path, **changes: object) -> Settings:
        return url_settings(project, **{"suggest": False, **changes})

    return settings


MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]


def line_of(path: Path, needle: str) -> int:
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} occurs {len(lines)} times in {path}"
    return lines[0]


def error_message(report: Report, exit_code: int) -> str:
    assert (report.status, report.exit_code) == ("error", exit_code)
    assert report.error is not None
    return report.error.message


# ---------------------------------------------------------------------------- failing migrations


def test_failing_revision_is_named_with_its_file_and_line(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("migration_raises")
    versions = (project / "migrations" / "versions").resolve()
    failing = versions / "0003_backfill_ratio.py"
    line = line_of(failing, 'op.execute("SELECT 1 / 0")')

    report = run_check(url_settings(project))

    message = error_message(report, 3)
    assert report.error is not None and report.error.stage == "migrate"
    assert "revision 0003" in message
    assert f"{failing}:{line}" in message
    assert "DivisionByZero" in message
    assert "--baseline" not in report.error.hint  # only the first revision can need a base schema
    run = report.migrations
    assert run is not None
    assert [(r.revision, r.file) for r in run.applied] == [
        ("0001", str(versions / "0001_create_users.py")),
        ("0002", str(versions / "0002_add_users_name.py")),
    ]
    assert run.failure is not None
    assert (run.failure.revision, run.failure.file, run.failure.line) == ("0003", str(failing), line)
    assert "division by zero" in run.failure.error
    assert report.findings == ()


# ---------------------------------------------------------------------------- broken Python


@pytest.mark.parametrize(
    ("scenario", "needle", "error"),
    [
        ("models_import_error", "from myapp_settings_that_do_not_exist import", "ModuleNotFoundError"),
        ("models_name_error", "Strng(50)", "NameError"),
    ],
)
def test_models_that_cannot_be_imported(
    make_project: MakeProject, url_settings: UrlSettings, scenario: str, needle: str, error: str
) -> None:
    project = make_project(scenario)
    models = (project / "models.py").resolve()

    report = run_check(url_settings(project))

    message = error_message(report, 3)
    assert f"{models}:{line_of(models, needle)}" in message
    assert error in message
    assert report.findings == ()


def test_env_py_with_a_syntax_error(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("env_syntax_error")
    env_py = (project / "migrations" / "env.py").resolve()
    line = line_of(env_py, "def run_migrations_online() -> None")

    report = run_check(url_settings(project))

    message = error_message(report, 3)
    assert f"{env_py}:{line}" in message
    assert "SyntaxError" in message
    assert report.findings == ()


# ---------------------------------------------------------------------------- alembic.ini


def test_directory_without_alembic_ini(tmp_path: Path, url_settings: UrlSettings) -> None:
    empty = tmp_path / "not_a_project"
    empty.mkdir()

    report = run_check(url_settings(empty))

    message = error_message(report, 2)
    assert str(empty / "alembic.ini") in message
    assert report.postgres is None  # nothing was started for a project that isn't there
    assert report.findings == ()


def test_config_file_that_does_not_exist(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("column_missing")

    report = run_check(url_settings(project, config_file=Path("nope.ini")))

    message = error_message(report, 2)
    assert "nope.ini" in message
    assert report.postgres is None


def test_alembic_ini_that_is_not_an_ini_file(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("alembic_ini_broken")

    report = run_check(url_settings(project))

    message = error_message(report, 2)
    assert str(project / "alembic.ini") in message
    assert report.postgres is None


# ---------------------------------------------------------------------------- two heads


def test_two_heads_is_a_finding_listing_both(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("two_heads")
    versions = (project / "migrations" / "versions").resolve()
    heads = {
        "1a2b3c4d5e6f": versions / "1a2b3c4d5e6f_add_users_name.py",
        "9f8e7d6c5b4a": versions / "9f8e7d6c5b4a_create_tags.py",
    }

    report = run_check(url_settings(project))

    assert [(f.kind, f.object) for f in report.findings] == [("multiple_heads", "migrations.heads")]
    (finding,) = report.findings
    assert finding.migrations is not None
    listing = finding.migrations.splitlines()
    assert len(listing) == 2
    for head, file in heads.items():
        assert any(head in line and str(file) in line for line in listing), (head, listing)
    assert (report.status, report.exit_code) == ("error", 3)
    # Both branches were still applied: the finding is about the history, not a failed run.
    assert report.migrations is not None
    assert sorted(r.revision for r in report.migrations.applied) == ["0001", *sorted(heads)]
    assert report.project is not None and set(report.project.heads) == set(heads)


# ---------------------------------------------------------------------------- models PostgreSQL rejects


def test_rejected_model_object_is_a_finding_and_the_rest_is_compared(
    make_project: MakeProject, url_settings: UrlSettings
) -> None:
    project = make_project("models_rejected")

    report = run_check(url_settings(project))

    assert report.error is None, report.error
    assert (report.status, report.exit_code) == ("drift", 1)
    rejected = [f for f in report.findings if f.kind == "model_rejected"]
    others = sorted((f.kind, f.object) for f in report.findings if f.kind != "model_rejected")
    assert others == [("column_missing", "public.teams.name")]
    assert len(rejected) == 1
    (fk,) = rejected
    assert fk.object_type == "foreign_key_constraint"
    assert (fk.schema, fk.table) == ("public", "players")
    # The object path names the foreign key: the models leave it unnamed, so PostgreSQL's
    # own name (players_team_code_fkey) or at least the column belongs there, never "None".
    assert fk.object.startswith("public.players.")
    assert not fk.object.endswith(".None")
    assert "team_code" in fk.object
    assert fk.models is not None and "REFERENCES teams (code)" in fk.models
    assert "unique" in fk.detail


# ---------------------------------------------------------------------------- source locations


def test_column_finding_points_at_the_mapped_attribute(make_project: MakeProject, url_settings: UrlSettings) -> None:
    project = make_project("column_missing")
    models = (project / "models.py").resolve()

    report = run_check(url_settings(project))

    (finding,) = report.findings
    assert finding.kind == "column_missing"
    assert finding.source is not None
    assert Path(finding.source.file).resolve() == models
    assert finding.source.line == line_of(models, "display_name: Mapped")
    assert finding.source.symbol == "User.display_name"


def test_source_locations_of_renamed_attributes_plain_columns_and_tables(
    make_project: MakeProject, url_settings: UrlSettings
) -> None:
    project = make_project("source_locations")
    models = (project / "models.py").resolve()

    report = run_check(url_settings(project))

    assert report.error is None, report.error
    sources = {f.object: f.source for f in report.findings}
    assert set(sources) == {"public.users.display_name", "public.users.bio", "public.tags"}
    expected = {
        "public.users.display_name": (line_of(models, "displayName: Mapped"), "User.displayName"),
        "public.users.bio": (line_of(models, "bio = Column("), "User.bio"),
        "public.tags": (line_of(models, "class Tag(Base):"), "Tag"),
    }
    for obj, (line, symbol) in expected.items():
        source = sources[obj]
        assert source is not None, obj
        assert (Path(source.file).resolve(), source.line, source.symbol) == (models, line, symbol), obj
