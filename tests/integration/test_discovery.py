"""How driftbot finds what to compare: the project's own env.py, whatever its style.

Each test runs the engine on a fixture project (tests/fixtures/projects/<scenario>) against
the session's PostgreSQL and pins the exact set of findings, so an implementation that
misreads env.py (wrong database, wrong metadata, hooks ignored, version table compared,
...) either reports something extra or misses something.
"""

from __future__ import annotations

import os
import shutil
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


PROJECTS = Path(__file__).resolve().parents[1] / "fixtures" / "projects"

Check = Callable[..., Report]


def found(report: Report) -> list[tuple[str, str]]:
    return sorted((f.kind, f.object) for f in report.findings)


def applied(report: Report) -> list[str]:
    assert report.migrations is not None
    return [r.revision for r in report.migrations.applied]


def line_of(path: Path, needle: str) -> int:
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} occurs {len(lines)} times in {path}"
    return lines[0]


def assert_drift(report: Report, expected: list[tuple[str, str]]) -> None:
    assert report.error is None, report.error
    assert found(report) == sorted(expected)
    assert (report.status, report.exit_code) == ("drift", 1)


# ---------------------------------------------------------------------------- env.py styles


def test_async_env_py_runs_through_run_sync(check_fixture: Check) -> None:
    report = check_fixture("env_async")

    assert_drift(report, [("column_missing", "public.users.display_name")])
    assert applied(report) == ["0001"]


def test_env_py_reading_database_url_gets_the_scratch_database(
    check_fixture: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A URL the developer has set for their own database must not be the one migrated ...
    unreachable = "postgresql+psycopg://developer:devpass@127.0.0.1:1/development"
    monkeypatch.setenv("DATABASE_URL", unreachable)

    report = check_fixture("env_database_url")

    assert_drift(report, [("column_missing", "public.users.display_name")])
    assert applied(report) == ["0001"]
    # ... and it is given back afterwards.
    assert os.environ["DATABASE_URL"] == unreachable


def test_env_py_reading_a_custom_variable_with_url_env_vars(
    check_fixture: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_DB_URL", raising=False)

    report = check_fixture("env_custom_url_var", url_env_vars=("APP_DB_URL",))

    assert_drift(report, [("column_missing", "public.users.display_name")])
    assert applied(report) == ["0001"]
    assert "APP_DB_URL" not in os.environ


def test_env_py_reading_a_variable_driftbot_was_not_told_about(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_DB_URL", raising=False)
    project = make_project("env_custom_url_var")

    report = run_check(url_settings(project))  # default url_env_vars: DATABASE_URL only

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None
    env_py = (project / "migrations" / "env.py").resolve()
    assert f"{env_py}:{line_of(env_py, 'os.environ[')}" in report.error.message
    assert "KeyError" in report.error.message and "APP_DB_URL" in report.error.message


def test_custom_version_table_is_not_reported(check_fixture: Check) -> None:
    report = check_fixture("version_table_custom")

    assert report.error is None, report.error
    assert report.findings == ()
    assert (report.status, report.exit_code) == ("clean", 0)
    assert applied(report) == ["0001"]


def test_include_schemas_finds_drift_in_each_schema(check_fixture: Check) -> None:
    report = check_fixture("include_schemas_two")

    assert_drift(report, [("column_missing", "public.users.display_name"), ("column_extra", "audit.events.payload")])
    where = {(f.schema, f.table, f.name, f.object_type) for f in report.findings}
    assert where == {("public", "users", "display_name", "column"), ("audit", "events", "payload", "column")}


# ---------------------------------------------------------------------------- include hooks


def test_include_object_excludes_tables_and_columns_on_both_sides(check_fixture: Check) -> None:
    report = check_fixture("hooks_include_object")

    assert_drift(report, [("column_missing", "public.users.display_name")])


def test_include_name_excludes_tables_and_columns(check_fixture: Check) -> None:
    report = check_fixture("hooks_include_name")

    assert_drift(report, [("column_type_changed", "public.users.nickname")])
    (finding,) = report.findings
    assert (finding.migrations, finding.models) == ("character varying(30)", "character varying(50)")


@pytest.mark.parametrize(
    ("scenario", "excluded"),
    [
        (
            "hooks_include_object",
            [
                ("table_extra", "public.legacy"),
                ("column_extra", "public.users.internal_note"),
                ("column_missing", "public.users.search_vector"),
            ],
        ),
        ("hooks_include_name", [("table_extra", "public.legacy_sessions"), ("column_extra", "public.users.old_flag")]),
    ],
)
def test_without_the_hook_the_excluded_objects_are_drift(
    scenario: str,
    excluded: list[tuple[str, str]],
    make_project: Callable[[str], Path],
    url_settings: Callable[..., Settings],
) -> None:
    """The hook fixtures are not vacuous: with the plain env.py the hidden drift shows."""
    project = make_project(scenario)
    shutil.copy(PROJECTS / "_base" / "migrations" / "env.py", project / "migrations" / "env.py")

    report = run_check(url_settings(project))

    assert report.error is None, report.error
    assert set(excluded) <= set(found(report))


# ---------------------------------------------------------------------------- which metadata


def test_target_metadata_list_compares_every_metadata(check_fixture: Check) -> None:
    report = check_fixture("metadata_list")

    assert_drift(
        report, [("column_missing", "public.users.display_name"), ("column_extra", "public.daily_totals.total")]
    )


def test_env_py_target_metadata_is_the_default(check_fixture: Check) -> None:
    report = check_fixture("metadata_override")

    assert_drift(report, [("table_extra", "public.orders")])


@pytest.mark.parametrize("spec", ["models:OtherBase.metadata", "models:OtherBase"])
def test_metadata_setting_overrides_target_metadata(check_fixture: Check, spec: str) -> None:
    report = check_fixture("metadata_override", metadata=spec)

    assert_drift(report, [("column_missing", "public.orders.note")])


def test_metadata_setting_naming_nothing_is_an_error(check_fixture: Check) -> None:
    report = check_fixture("metadata_override", metadata="models:NoSuchBase.metadata")

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None and "NoSuchBase" in report.error.message


def test_metadata_setting_without_attribute_is_a_usage_error(check_fixture: Check) -> None:
    report = check_fixture("metadata_override", metadata="models")

    assert (report.status, report.exit_code) == ("error", 2)
    assert report.error is not None and "module:attr" in report.error.message


# ---------------------------------------------------------------------------- --baseline


def test_first_revision_needing_a_base_schema_asks_for_baseline(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings]
) -> None:
    project = make_project("baseline_required")

    report = run_check(url_settings(project))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.error is not None
    revision_file = (project / "migrations" / "versions" / "0001_add_accounts_email.py").resolve()
    line = line_of(revision_file, "op.add_column(")
    assert "0001" in report.error.message
    assert f"{revision_file}:{line}" in report.error.message
    assert "accounts" in report.error.message
    assert "--baseline" in report.error.hint
    assert report.migrations is not None
    assert report.migrations.applied == ()
    assert report.migrations.failure is not None
    assert (report.migrations.failure.revision, report.migrations.failure.line) == ("0001", line)
    assert report.findings == ()


@pytest.mark.parametrize("baseline", ["baseline.sql", "baseline_mod:prepare"])
def test_baseline_prepares_the_empty_database(check_fixture: Check, baseline: str) -> None:
    report = check_fixture("baseline_required", baseline=baseline)

    assert report.error is None, report.error
    assert applied(report) == ["0001", "0002"]
    assert report.findings == ()
    assert (report.status, report.exit_code) == ("clean", 0)


def test_baseline_file_relative_to_the_working_directory(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project("baseline_required")
    monkeypatch.chdir(project.parent)

    report = run_check(url_settings(project, baseline=f"{project.name}/baseline.sql"))

    assert report.error is None, report.error
    assert applied(report) == ["0001", "0002"]
    assert (report.status, report.exit_code) == ("clean", 0)


def test_baseline_file_that_does_not_exist(check_fixture: Check) -> None:
    report = check_fixture("baseline_required", baseline="no_such_baseline.sql")

    assert (report.status, report.exit_code) == ("error", 2)
    assert report.error is not None and "no_such_baseline.sql" in report.error.message
