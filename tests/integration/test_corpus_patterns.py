"""Patterns of real projects (realworld/RESULTS.md) that driftbot failed on, each as a small fixture.

- corpus_no_mako: a script directory without script.py.mako (ckan)
- corpus_relative_script_location: `script_location = pkg/db_migrations`, relative to the package
  root, with alembic.ini inside that directory (mlflow)
- corpus_no_script_location: alembic.ini without script_location, Alembic driven from code (zou)
- corpus_runtime_version_locations: env.py sets `context.script.version_locations` (prefect)
- corpus_flask_app, corpus_flask_app_migrates_itself: Flask-Migrate's env.py (current_app); an
  application factory that runs the migrations itself (ihatemoney)
- corpus_second_revision_needs_base: an empty first revision, the second alters a table only the
  application creates (buildbot; mlflow's first revision likewise)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.config import load_config
from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.settings import Settings

Make = Callable[[str], Path]
UrlSettings = Callable[..., Settings]


def applied(report: Report) -> list[str]:
    assert report.migrations is not None
    return [r.revision for r in report.migrations.applied]


def found(report: Report) -> list[tuple[str, str]]:
    return sorted((f.kind, f.object) for f in report.findings)


# ---------------------------------------------------------------------------- no script.py.mako (ckan)


def test_suggestion_without_script_py_mako_uses_alembics_generic_template(
    make_project: Make, url_settings: UrlSettings
) -> None:
    project = make_project("corpus_no_mako")
    (project / "migrations" / "script.py.mako").unlink()

    report = run_check(url_settings(project))

    assert found(report) == [("column_missing", "public.users.display_name")]
    s = report.suggestion
    assert s is not None
    assert s.error is None, s.error
    assert s.verified, s.checks
    assert "def upgrade() -> None:" in s.content and "op.add_column('users'" in s.content
    assert any("generic" in c.detail and "script.py.mako" in c.detail for c in s.checks), s.checks
    assert not (project / "migrations" / "script.py.mako").exists()  # the project's tree is not written


# ---------------------------------------------------------------------------- relative script_location (mlflow)


def test_relative_script_location_resolved_against_the_ini_s_parent_directories(
    make_project: Make, url_settings: UrlSettings, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project("corpus_relative_script_location")
    ini = project / "pkg" / "db_migrations" / "alembic.ini"

    with caplog.at_level(logging.DEBUG, logger="driftbot"):
        report = run_check(url_settings(ini.parent, config_file=ini))

    assert report.error is None, report.error
    assert applied(report) == ["0001"]
    assert found(report) == [("column_missing", "public.users.display_name")]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion  # its own config too
    assert report.project is not None
    assert Path(report.project.script_location) == (project / "pkg" / "db_migrations").resolve()
    assert any(
        "pkg/db_migrations" in r.getMessage() and str(project.resolve()) in r.getMessage() for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_script_location_that_exists_nowhere_is_still_an_error(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_relative_script_location")
    ini = project / "pkg" / "db_migrations" / "alembic.ini"
    ini.write_text(ini.read_text().replace("script_location = pkg/db_migrations", "script_location = pkg/nowhere"))

    report = run_check(url_settings(ini.parent, config_file=ini, suggest=False))

    assert (report.status, report.exit_code) == ("error", 2)
    assert report.error is not None and "pkg/nowhere" in report.error.message


# ---------------------------------------------------------------------------- no script_location (zou)


def test_alembic_ini_without_script_location_is_an_error_naming_the_flag(
    make_project: Make, url_settings: UrlSettings
) -> None:
    project = make_project("corpus_no_script_location")

    report = run_check(url_settings(project, config_file=project / "migrations" / "alembic.ini", suggest=False))

    assert (report.status, report.exit_code) == ("error", 2)
    assert report.error is not None and "--script-location" in report.error.hint


def test_script_location_flag_sets_it(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_no_script_location")

    report = run_check(
        url_settings(
            project, config_file=project / "migrations" / "alembic.ini", script_location=project / "migrations"
        )
    )

    assert report.error is None, report.error
    assert applied(report) == ["0001"]
    assert found(report) == [("column_missing", "public.users.display_name")]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion  # its own config too


def test_script_location_in_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.driftbot]\nscript-location = "app/migrations"\n')

    config = load_config(tmp_path / "pyproject.toml")

    assert config.values == {"script_location": tmp_path.resolve() / "app" / "migrations"}


# ---------------------------------------------------------------------------- version_locations set at run time (prefect)


def test_env_py_setting_version_locations_at_run_time(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_runtime_version_locations")

    report = run_check(url_settings(project))

    assert report.error is None, report.error
    assert applied(report) == ["0001", "0002"]  # versions/postgresql/, never versions/sqlite/
    assert found(report) == [("column_missing", "public.users.display_name")]
    assert report.project is not None and report.project.heads == ("0002",)
    assert report.project.head_files[0].endswith("versions/postgresql/0002_create_teams.py")
    s = report.suggestion
    assert s is not None and s.error is None, s and s.error
    assert s.down_revision == ("0002",)
    assert s.verified, s.checks


# ---------------------------------------------------------------------------- cannot build from empty (buildbot, mlflow)


def test_a_later_revision_needing_a_base_schema_asks_for_baseline(
    make_project: Make, url_settings: UrlSettings
) -> None:
    project = make_project("corpus_second_revision_needs_base")

    report = run_check(url_settings(project, suggest=False))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None
    assert "revision 0002" in report.error.message and "builders" in report.error.message
    assert "--baseline" in report.error.hint and "0002" in report.error.hint


@pytest.mark.parametrize("baseline", ["initial_models:metadata", "initial_models:Base", "initial_models:Base.metadata"])
def test_baseline_names_a_metadata_or_declarative_base(
    make_project: Make, url_settings: UrlSettings, baseline: str
) -> None:
    project = make_project("corpus_second_revision_needs_base")

    report = run_check(url_settings(project, baseline=baseline, suggest=False))

    assert report.error is None, report.error
    assert applied(report) == ["0001", "0002"]
    assert (report.status, report.exit_code) == ("clean", 0)


def test_baseline_of_the_current_models_is_named_when_a_revision_collides_with_it(
    make_project: Make, url_settings: UrlSettings
) -> None:
    """buildbot: `--baseline buildbot.db.model:Model.metadata` (the current models) makes revision 060 fail with
    DuplicateTable; the hint says why, instead of `fix the migration`."""
    project = make_project("corpus_second_revision_needs_base")

    report = run_check(url_settings(project, baseline="models:Base", suggest=False))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None and "DuplicateColumn" in report.error.message, report.error
    assert "revision 0002 creates what the --baseline already has" in report.error.hint, report.error.hint


# ---------------------------------------------------------------------------- Flask-Migrate env.py (ihatemoney)


def test_flask_migrate_env_py_without_an_app_names_the_flag(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_flask_app")

    report = run_check(url_settings(project, suggest=False))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None and "Working outside of application context" in report.error.message
    assert "--flask-app" in report.error.hint


def test_flask_app_flag_runs_env_py_in_the_application_s_context(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_flask_app")

    report = run_check(url_settings(project, flask_app="app:create_app"))

    assert report.error is None, report.error
    assert applied(report) == ["0001"]
    assert found(report) == [("column_missing", "public.users.display_name")]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
    assert any(r.requested.startswith("postgresql+psycopg://app@db.invalid") for r in report.redirects), (
        report.redirects
    )


def test_flask_app_that_migrates_itself_needs_no_metadata_flag(make_project: Make, url_settings: UrlSettings) -> None:
    """ihatemoney: create_app() runs the migrations, so the models' process (no database for the application)
    cannot create it; the metadata is the one Flask-SQLAlchemy db of the application's modules, as env.py's."""
    project = make_project("corpus_flask_app_migrates_itself")

    report = run_check(url_settings(project, flask_app="app:create_app"))

    assert report.error is None, report.error
    assert found(report) == [("column_missing", "public.users.display_name")]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion


def test_flask_app_that_migrates_itself_without_a_flask_sqlalchemy_db_names_metadata(
    make_project: Make, url_settings: UrlSettings
) -> None:
    project = make_project("corpus_flask_app_migrates_itself")
    models = project / "models.py"
    models.write_text(models.read_text().replace("db = SQLAlchemy()", "db = SQLAlchemy()\nother_db = SQLAlchemy()"))

    report = run_check(url_settings(project, flask_app="app:create_app", suggest=False))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None and "2 Flask-SQLAlchemy db objects" in report.error.message, report.error
    assert "--metadata" in report.error.hint


def test_flask_app_that_is_not_one(make_project: Make, url_settings: UrlSettings) -> None:
    project = make_project("corpus_flask_app")

    report = run_check(url_settings(project, flask_app="models:Base.metadata", suggest=False))

    assert (report.status, report.exit_code) == ("error", 2)
    assert report.error is not None and "not a Flask application" in report.error.message


# ---------------------------------------------------------------------------- env.py leaving its connection open (ckan)


def test_env_py_leaving_its_connection_open_still_gets_a_verified_suggestion(
    make_project: Make, url_settings: UrlSettings
) -> None:
    project = make_project("corpus_leaked_connection")

    report = run_check(url_settings(project))

    assert found(report) == [("column_missing", "public.users.display_name")]
    s = report.suggestion
    assert s is not None and s.error is None, s and s.error
    assert s.verified, s.checks
