"""Patterns of real projects (issue 10) that broke the suggested migration, one fixture project each.

Each test runs the check as a user would (`driftbot check --write` on the fixture project),
asserts the findings and a verified suggestion, and then shows that plain
`alembic upgrade head` + `alembic check` (subprocesses, on a fresh database) accept the
project with the suggestion written into it.

- real_version_locations: env.py sets `version_locations` itself (config.set_main_option);
- real_script_directory: env.py replaces the version locations of alembic's ScriptDirectory;
- real_custom_types: the models use a TypeDecorator of the project's own module;
- real_unnamed_constraints: UNIQUE and FOREIGN KEY constraints without a name;
- real_include_filters: env.py's include_name / include_object leave objects out;
- corpus_rejected_model_objects: model objects PostgreSQL rejects (mlflow: an FK to a non-unique
  column, an index with no columns), with render_as_batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_suggestion import Database, describe, output, plain_alembic, plain_database, query, section

from driftbot.report.comment import CommentContext, render_comment
from driftbot.report.model import Report
from driftbot.report.render import render
from driftbot.runs.check import run_check
from driftbot.settings import Settings
from driftbot.suggest.generate import Suggestion

MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]
CHECKS = ["upgrade", "no_drift", "downgrade", "downgrade_restores", "upgrade_again"]


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[Database]:
    """An empty database for plain Alembic, not made by driftbot."""
    with plain_database(pg_url) as db:
        yield db


def drift(report: Report) -> set[tuple[str, str]]:
    return {(f.kind, f.object) for f in report.findings if f.is_drift}


def written_and_verified(report: Report, project: Path) -> Suggestion:
    """The suggestion passed all five checks and --write put it into the project's versions directory."""
    s = report.suggestion
    assert s is not None, f"no suggestion; error: {report.error}"
    assert s.error is None, describe(s)
    assert [c.name for c in s.checks] == CHECKS and all(c.passed for c in s.checks), describe(s)
    assert s.verified is True and s.remaining == (), describe(s)
    assert s.written is True
    path = Path(s.path)
    assert path.parent.resolve() == (project / "migrations" / "versions").resolve()
    assert path.read_text(encoding="utf-8") == s.content
    return s


def plain_alembic_accepts(project: Path, db: Database, revision: str) -> None:
    upgrade = plain_alembic(project, db, "upgrade", "head")
    assert upgrade.returncode == 0, output(upgrade)
    assert query(db, "SELECT version_num FROM alembic_version") == [(revision,)]
    check = plain_alembic(project, db, "check")
    assert check.returncode == 0, output(check)


def check_and_write(make_project: MakeProject, url_settings: UrlSettings, scenario: str) -> tuple[Path, Report]:
    project = make_project(scenario)
    return project, run_check(url_settings(project, write=True))


# ---------------------------------------------------------------------------- 2. version locations

VERSION_DRIFT = {("column_missing", "public.users.display_name"), ("check_missing", "public.users.ck_users_email_at")}


def test_env_py_that_sets_version_locations(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """env.py's config.set_main_option("version_locations", ...) drops driftbot's temporary location
    from the config; the second generation (for the CHECK autogenerate does not emit) and the
    verification must still find the suggestion."""
    project, report = check_and_write(make_project, url_settings, "real_version_locations")
    assert drift(report) == VERSION_DRIFT
    s = written_and_verified(report, project)
    upgrade = section(s.content, "upgrade")
    assert "op.add_column('users'" in upgrade and "ck_users_email_at" in upgrade, s.content
    plain_alembic_accepts(project, fresh_db, s.revision)


def test_env_py_that_replaces_the_script_directorys_locations(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """env.py's context.script.version_locations = [...] replaces them on the ScriptDirectory itself."""
    project, report = check_and_write(make_project, url_settings, "real_script_directory")
    assert drift(report) == VERSION_DRIFT
    s = written_and_verified(report, project)
    assert "ck_users_email_at" in section(s.content, "upgrade"), s.content
    plain_alembic_accepts(project, fresh_db, s.revision)


# ---------------------------------------------------------------------------- 4. custom types


def test_custom_type_of_the_project_is_imported(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """Alembic renders shop.types.Email(...) and imports nothing: the file must import shop.types."""
    project, report = check_and_write(make_project, url_settings, "real_custom_types")
    assert drift(report) == {("table_missing", "public.contacts"), ("column_missing", "public.users.backup_email")}
    s = written_and_verified(report, project)
    assert "\nimport shop.types\n" in s.content, s.content
    upgrade = section(s.content, "upgrade")
    assert "shop.types.Email(length=200)" in upgrade and "shop.types.Email(length=255)" in upgrade, s.content
    plain_alembic_accepts(project, fresh_db, s.revision)


# ---------------------------------------------------------------------------- 5. unnamed constraints

UNNAMED = {"users_email_key", "posts_author_id_fkey", "posts_editor_id_fkey"}


def test_unnamed_constraints_get_the_names_postgresql_gives_them(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    project, report = check_and_write(make_project, url_settings, "real_unnamed_constraints")
    assert drift(report) == {
        ("column_missing", "public.posts.author_id"),
        *(
            ("unique_missing" if n.endswith("_key") else "foreign_key_missing", f"public.{n.split('_', 1)[0]}.{n}")
            for n in UNNAMED
        ),
    }
    s = written_and_verified(report, project)
    assert "drop_constraint(None" not in s.content and "create_foreign_key(None" not in s.content, s.content
    downgrade = section(s.content, "downgrade")
    for name in UNNAMED:
        assert f"op.drop_constraint('{name}'" in downgrade, s.content

    plain_alembic_accepts(project, fresh_db, s.revision)
    assert unique_and_foreign_keys(fresh_db) == UNNAMED
    down = plain_alembic(project, fresh_db, "downgrade", "-1")  # plain Alembic can undo it too
    assert down.returncode == 0, output(down)
    assert unique_and_foreign_keys(fresh_db) == set()


def unique_and_foreign_keys(db: Database) -> set[str]:
    rows = query(
        db, "SELECT conname FROM pg_constraint WHERE contype IN ('u', 'f') AND connamespace = 'public'::regnamespace"
    )
    return {str(row[0]) for row in rows}


# ---------------------------------------------------------------------------- 6. include_name / include_object


def test_what_the_project_filters_out_is_not_remaining_drift(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """Objects env.py's hooks leave out are neither findings, nor "remaining" in no_drift, nor touched."""
    project, report = check_and_write(make_project, url_settings, "real_include_filters")
    assert drift(report) == {("column_missing", "public.users.display_name")}
    s = written_and_verified(report, project)
    for hidden in ("legacy_orders", "tmp_import", "internal_note", "search_vector", "ix_users_email_search"):
        assert hidden not in s.content, s.content
    plain_alembic_accepts(project, fresh_db, s.revision)
    assert query(fresh_db, "SELECT indexname FROM pg_indexes WHERE tablename = 'users' AND indexname LIKE 'ix_%'") == [
        ("ix_users_email_search",)
    ]


# ---------------------------------------------------------------------------- 7. model objects PostgreSQL rejects

REJECTED = ["public.input_tags.input_tags_input_uuid_fkey", "public.trace_tags.index_trace_tags_request_id"]


def test_model_objects_postgresql_rejects_are_left_out_and_the_rest_verifies(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """mlflow: autogenerate emits the FK to inputs.input_uuid (not unique) and re-creates an index with
    no columns; both fail on PostgreSQL. The suggestion leaves them out, says so, and verifies the rest."""
    project, report = check_and_write(make_project, url_settings, "corpus_rejected_model_objects")
    assert sorted(f.object for f in report.findings if f.kind == "model_rejected") == REJECTED
    # the models' broken index is not in O, so M's index on request_id shows as extra
    assert drift(report) - {("model_rejected", o) for o in REJECTED} == {
        ("column_missing", "public.inputs.step"),
        ("index_extra", "public.trace_tags.index_trace_tags_request_id"),
    }
    s = written_and_verified(report, project)
    upgrade, downgrade = section(s.content, "upgrade"), section(s.content, "downgrade")
    assert "add_column(sa.Column('step'" in upgrade, s.content
    assert "create_foreign_key" not in upgrade and "drop_constraint" not in downgrade, s.content
    assert "index_trace_tags_request_id" not in s.content, s.content
    (no_drift,) = [c for c in s.checks if c.name == "no_drift"]
    assert "2 model objects PostgreSQL rejects" in no_drift.detail, no_drift.detail
    for obj in REJECTED:
        assert obj in no_drift.detail, no_drift.detail

    # the terminal and the PR comment say so next to "verified"
    text = render(report, "text")
    assert (
        "VERIFIED" in text
        and f"except 2 model objects PostgreSQL rejects, left out of the migration: {', '.join(REJECTED)}" in text
    ), text
    comment = render_comment(
        report, CommentContext(repository="octo/shop", head_sha="0" * 40, branch="b"), "<!-- m -->"
    )
    assert (
        "except 2 model objects PostgreSQL rejects, left out of the migration: "
        "`public.input_tags.input_tags_input_uuid_fkey`, `public.trace_tags.index_trace_tags_request_id`" in comment
    ), comment

    upgrade_run = plain_alembic(project, fresh_db, "upgrade", "head")
    assert upgrade_run.returncode == 0, output(upgrade_run)
    assert query(fresh_db, "SELECT version_num FROM alembic_version") == [(s.revision,)]
    assert query(
        fresh_db,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'inputs' AND column_name = 'step'",
    ) == [("step",)]
    # plain alembic check still wants what PostgreSQL cannot build, and nothing else
    check = plain_alembic(project, fresh_db, "check")
    assert check.returncode != 0, output(check)
    assert "input_uuid" in check.stderr + check.stdout and "step" not in check.stderr + check.stdout, output(check)


# ---------------------------------------------------------------------------- a type change under a CHECK (mlflow)


def test_type_change_of_a_column_under_a_check_verifies(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    """mlflow's runs.status VARCHAR(9) -> String(20) under CHECK (status IN (...)): ALTER COLUMN TYPE makes
    PostgreSQL re-spell the CHECK (`(ARRAY[...])::text[]` comes back as `ARRAY[(...)::text]`), and changing
    the type back keeps the new spelling: the downgrade restores the catalog up to that spelling."""
    project, report = check_and_write(make_project, url_settings, "corpus_type_change_under_check")
    assert drift(report) == {("column_type_changed", "public.runs.status")}
    s = written_and_verified(report, project)
    (restores,) = [c for c in s.checks if c.name == "downgrade_restores"]
    assert "spells 1 definition(s) otherwise" in restores.detail, restores.detail
    assert "public.runs.runs_status_check" in restores.detail, restores.detail
    plain_alembic_accepts(project, fresh_db, s.revision)
