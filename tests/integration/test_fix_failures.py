"""Fixes that PostgreSQL refused although driftbot reads every kind involved (issue 12).

Each scenario is a fixture project whose suggested migration failed verification before:
an enum -> enum column change (no cast joins two enums), a create_table that re-created an
existing enum, an identity added before SET NOT NULL, a DROP SEQUENCE while a default still
used it (or twice), a model object PostgreSQL rejected still in the fix, and a models'
database without the migrations' collations and the schemas only enum types name. Each runs
through `check` and through `detect --fix` (the live database at the heads, so the fix is the
same change, made on a restored copy of it).
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from driftbot.postgres.base import Server
from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.runs.detect import run_detect
from driftbot.runs.live import live_target
from driftbot.settings import Settings
from driftbot.suggest.generate import Suggestion
from tests.helpers import sql

MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]
Run = Callable[[str], Report]
CHECKS = ["upgrade", "no_drift", "downgrade", "downgrade_restores", "upgrade_again"]


@pytest.fixture
def live_url(pg_server: Server) -> Iterator[str]:
    name = f"live_{secrets.token_hex(4)}"
    admin = pg_server.admin_url.render_as_string(hide_password=False)
    sql(admin, f'CREATE DATABASE "{name}"')
    yield pg_server.admin_url.set(database=name).render_as_string(hide_password=False)
    sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _deploy(project: Path, url: str) -> None:
    """`alembic upgrade heads` on the live database, as a deployment runs it."""
    deploy = project / "deploy.ini"
    deploy.write_text(
        (project / "alembic.ini")
        .read_text()
        .replace("postgresql+psycopg://localhost/placeholder", url.replace("%", "%%"))
    )
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(deploy), "upgrade", "heads"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(params=["check", "detect"])
def run(request: pytest.FixtureRequest, make_project: MakeProject, url_settings: UrlSettings) -> Run:
    """The scenario checked (M against O), or detected with --fix on a live database at the heads."""

    def check(scenario: str) -> Report:
        return run_check(url_settings(make_project(scenario)))

    def detect(scenario: str) -> Report:
        project = make_project(scenario)
        url: str = request.getfixturevalue("live_url")
        _deploy(project, url)
        return run_detect(url_settings(project), live_target(url), fix=True)

    return check if request.param == "check" else detect


def verified(report: Report) -> Suggestion:
    s = report.suggestion
    assert report.error is None, report.error
    assert s is not None, "no suggestion"
    checks = "\n".join(f"  {c.name}: {'ok' if c.passed else 'FAILED'}: {c.detail}" for c in s.checks)
    assert s.verified and [c.name for c in s.checks] == CHECKS, f"{s.error}\n{checks}\n{s.content}"
    return s


def section(content: str, function: str) -> str:
    match = re.search(rf"^def {function}\(\).*?(?=^def |\Z)", content, flags=re.S | re.M)
    assert match is not None, content
    return match.group(0)


def kinds(report: Report) -> set[tuple[str, str]]:
    return {(f.kind, f.object) for f in report.findings}


def test_enum_to_enum_column_change_converts_through_text(run: Run) -> None:
    report = run("fix_enum_to_enum")

    assert ("column_type_changed", "public.tickets.status") in kinds(report)
    s = verified(report)
    assert "status::text::ticket_state" in section(s.content, "upgrade")
    assert "status::text::old_status" in section(s.content, "downgrade")


def test_create_table_with_an_enum_that_exists_does_not_create_it_again(run: Run) -> None:
    report = run("fix_table_reuses_enum")

    assert kinds(report) == {
        ("table_missing", "public.bugs"),
        ("enum_missing", "public.severity"),
        ("table_extra", "public.legacy"),
        ("enum_extra", "public.legacy_kind"),
    }
    s = verified(report)
    up, down = section(s.content, "upgrade"), section(s.content, "downgrade")
    assert "create_type=False" in up and "create_type=False" in down
    assert "public.priority" not in s.content  # it exists: nothing creates or drops it
    # driftbot's own ops create the types, before the tables that use them
    assert up.index("CREATE TYPE public.severity") < up.index("op.create_table('bugs'")
    assert down.index("CREATE TYPE public.legacy_kind") < down.index("op.create_table('legacy'")


def test_identity_is_added_after_set_not_null_and_dropped_before_drop_not_null(run: Run) -> None:
    report = run("fix_identity_on_nullable")

    assert kinds(report) == {
        ("column_identity_changed", "public.events.seq"),
        ("column_nullable_changed", "public.events.seq"),
    }
    s = verified(report)
    up, down = section(s.content, "upgrade"), section(s.content, "downgrade")
    assert up.index("SET NOT NULL") < up.index("ADD GENERATED")
    assert down.index("DROP IDENTITY") < down.index("DROP NOT NULL")


@pytest.mark.parametrize(
    ("scenario", "drops"),
    [
        ("fix_sequence_to_identity", 1),  # the sequence goes, once, after the default that called it
        ("fix_shared_sequence_to_identity", 0),  # another default still uses it: it stays
        ("fix_sequence_default_dropped", 1),  # worked before: a default dropped, then its sequence
    ],
)
def test_a_sequence_is_dropped_only_after_the_defaults_that_use_it(run: Run, scenario: str, drops: int) -> None:
    s = verified(run(scenario))

    up = section(s.content, "upgrade")
    assert up.count("DROP SEQUENCE") == drops, up
    if drops:
        assert up.index("DROP DEFAULT") < up.index("DROP SEQUENCE")


def test_a_model_object_postgresql_rejected_is_left_out_of_the_fix_and_said(run: Run) -> None:
    report = run("models_rejected")

    fk = "public.players.players_team_code_fkey"
    assert ("model_rejected", fk) in kinds(report)
    s = verified(report)
    assert "create_foreign_key" not in s.content and "add_column" in s.content
    [left_out] = [h for h in s.hazards if h.kind == "left_out"]
    assert left_out.object == fk and "rejected" in left_out.message


def test_the_models_database_has_the_migrations_collations_and_enum_only_schemas(run: Run) -> None:
    report = run("models_db_collation_and_enum_schema")

    # no model_rejected, no table_extra: the models' users table was built and compared
    assert kinds(report) == {("column_missing", "public.users.nickname")}
    s = verified(report)
    assert "add_column" in s.content
