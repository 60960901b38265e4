"""Who has an opinion (issue 12, item 2): against the models, the objects the project declares with
alembic_utils are compared, and nothing else the migrations build is."""

from __future__ import annotations

from collections.abc import Callable

from driftbot.report.model import Report


def test_check_reports_the_declared_view_the_migrations_lack(check_fixture: Callable[..., Report]) -> None:
    report = check_fixture("declared_view_missing", suggest=False)

    assert report.error is None, report.error
    # the declared function is built alike; helper() and the grant are nobody's declaration
    assert [f"{f.kind} {f.object}" for f in report.findings] == ["view_missing public.rich"]
    [view] = report.findings
    assert view.migrations is None
    assert (
        view.models
        == "CREATE VIEW public.rich AS SELECT accounts.id\n   FROM accounts\n  WHERE (accounts.balance > 1000)"
    )
    assert (report.status, report.exit_code) == ("drift", 1)


def test_check_is_clean_when_the_migrations_build_what_is_declared(check_fixture: Callable[..., Report]) -> None:
    report = check_fixture("declared_objects_clean", suggest=False)

    assert report.error is None, report.error
    assert [f"{f.kind} {f.object}" for f in report.findings] == []
    assert (report.status, report.exit_code) == ("clean", 0)


def test_check_reads_declarative_extensions_too(check_fixture: Callable[..., Report]) -> None:
    report = check_fixture("declared_ext_view_missing", suggest=False)

    assert report.error is None, report.error
    assert [f"{f.kind} {f.object}" for f in report.findings] == ["view_missing public.rich"]


def test_the_verified_suggestion_creates_the_declared_view(check_fixture: Callable[..., Report]) -> None:
    report = check_fixture("declared_view_missing")

    assert report.suggestion is not None and report.suggestion.verified
    # the project's own autogenerate (alembic_utils' comparator, registered by its models) writes the op
    assert "op.create_entity(public_rich)" in report.suggestion.content


def test_a_projects_declarations_do_not_reach_the_next_run_in_the_same_process(
    check_fixture: Callable[..., Report],
) -> None:
    # alembic_utils keeps its registry in its installed module, which outlives the project's modules:
    # left registered, its comparator put the view into the next project's suggestion, which failed
    check_fixture("declared_view_missing", suggest=False)
    report = check_fixture("column_missing")

    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
    assert "rich" not in report.suggestion.content
