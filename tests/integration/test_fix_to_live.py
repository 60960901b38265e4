"""`detect --fix-to live` with what a live database may hold that is meant to break the revision file:
names and definitions with quotes, backslashes, `\"\"\"` and Python code, and changes no op adopts.

The live database is built with psycopg's quoting (an independent quoter); the migrations are the
`db_pair` project's one revision (b.sql). A definition that broke out of its string literal in the
revision would run as Python when Alembic imports the file, or change what the migrations build.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from driftbot.cli.detect import render_live
from driftbot.postgres.base import Server, scratch_database
from driftbot.runs.detect import run_detect
from driftbot.runs.live import live_target
from driftbot.settings import Secret, Settings
from tests.conftest import materialize
from tests.integration.test_db_pairs import libpq, live_from, migrated, pg_dump  # noqa: F401 (a fixture)

TABLE = 't"\'\\"""'
VIEW = "v\"\"\"\\'''); import os  #"


def ident(*parts: str) -> str:
    return sql.Identifier(*parts).as_string()


def lit(value: str) -> str:
    return sql.Literal(value).as_string()


def project_with(b_sql: str, tmp_path: Path) -> Path:
    project = materialize("db_pair", tmp_path / "project")
    (project / "migrations" / "versions" / "b.sql").write_text(b_sql)
    return project


def hostile(marker: Path) -> tuple[str, str]:
    """(live, migrations): the live database adds a view, a comment, a function and a grant by hand."""
    escape = f'"""\n__import__("pathlib").Path({str(marker)!r}).touch()\n"""'
    table = f"CREATE TABLE {ident('public', TABLE)} (id integer PRIMARY KEY, {ident('x:y')} text);"
    live = "\n".join(
        [
            table,
            f"CREATE VIEW {ident('public', VIEW)} AS SELECT id, {ident('x:y')} FROM {ident('public', TABLE)} "
            f"WHERE {ident('x:y')} <> {lit(escape)};",
            f"COMMENT ON VIEW {ident('public', VIEW)} IS {lit(escape + chr(92) + ' :x %s ' + chr(39) * 3)};",
            f"CREATE FUNCTION public.{ident(VIEW + 'f')}() RETURNS text LANGUAGE sql AS $body$SELECT {lit(escape)}$body$;",
            f"GRANT SELECT ON {ident('public', TABLE)} TO PUBLIC;",
        ]
    )
    return live, table


def test_a_definition_cannot_break_out_of_the_revision(
    tmp_path: Path,
    pg_server: Server,
    pg_url: str,
    live_from: Callable[[str], str],  # noqa: F811
) -> None:
    marker = tmp_path / "escaped"
    live_sql, b_sql = hostile(marker)
    live_url = live_from(live_sql)
    project = project_with(b_sql, tmp_path)
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="live")

    assert report.error is None, report.error
    assert report.live is not None and report.live.fix_error is None, report.live.fix_error
    suggestion = report.suggestion
    assert suggestion is not None and suggestion.verified and suggestion.written
    compile(suggestion.content, suggestion.path, "exec")  # one valid module
    assert "__import__" in suggestion.content and not marker.exists()
    text = render_live(report, "text")
    assert "makes the migrations build what the live database has" in text
    assert f"alembic stamp {suggestion.revision}" in text and "brings the live database to the models" not in text
    with scratch_database(pg_server, "adopted") as built:
        migrated(project, built)
        assert not marker.exists()  # Alembic imported the file: nothing but its ops ran
        assert pg_dump(pg_server, built).replace("alembic_version_pkc", "alembic_version_pkey") == pg_dump(
            pg_server, make_url(live_url)
        )


def test_what_no_op_adopts_is_said_and_no_revision_is_written(
    tmp_path: Path,
    pg_url: str,
    live_from: Callable[[str], str],  # noqa: F811
) -> None:
    live_url = live_from(
        "CREATE TABLE public.t (id integer PRIMARY KEY); CREATE TABLE public.notes (id integer);"
        "CREATE VIEW public.v AS SELECT id FROM public.t;"
    )
    project = project_with("CREATE TABLE public.t (id integer PRIMARY KEY);", tmp_path)
    versions = project / "migrations" / "versions"
    before = sorted(p.name for p in versions.iterdir())
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="live")

    assert report.error is None, report.error
    assert report.live is not None and report.suggestion is None
    assert report.live.fix_error is not None and "table public.notes" in report.live.fix_error
    assert "no revision was written" in report.live.fix_error
    assert sorted(p.name for p in versions.iterdir()) == before
    assert "No fix migration: driftbot writes no op that adopts these changes" in render_live(report, "text")


def test_a_column_added_by_hand_is_adopted_with_what_hangs_on_it(
    tmp_path: Path,
    pg_server: Server,
    pg_url: str,
    live_from: Callable[[str], str],  # noqa: F811
) -> None:
    live_url = live_from(
        "CREATE TABLE public.t (id integer PRIMARY KEY, gone text);"
        "ALTER TABLE public.t DROP COLUMN gone;"
        f"ALTER TABLE public.t ADD COLUMN {ident('n:o')} integer NOT NULL DEFAULT 0;"
        f"CREATE INDEX t_n ON public.t ({ident('n:o')});"
        f"CREATE VIEW public.v AS SELECT id, {ident('n:o')} FROM public.t;"
    )
    project = project_with("CREATE TABLE public.t (id integer PRIMARY KEY, gone text);", tmp_path)
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="live")

    assert report.live is not None and report.live.fix_error is None, report.live.fix_error
    suggestion = report.suggestion
    assert suggestion is not None and suggestion.verified and suggestion.written
    upgrade_body = suggestion.content.split("def downgrade", 1)[0]
    assert 'ADD COLUMN "n:o" integer NOT NULL DEFAULT 0' in upgrade_body and "DROP COLUMN gone" in upgrade_body
    with scratch_database(pg_server, "adopted") as built:
        migrated(project, built)
        assert pg_dump(pg_server, built).replace("alembic_version_pkc", "alembic_version_pkey") == pg_dump(
            pg_server, make_url(live_url)
        )


def test_a_live_database_behind_the_heads_is_upgraded_first(
    tmp_path: Path,
    pg_url: str,
    live_from: Callable[[str], str],  # noqa: F811
) -> None:
    live_url = live_from("CREATE TABLE public.t (id integer PRIMARY KEY); CREATE VIEW public.v AS SELECT 1 AS one;")
    project = project_with("CREATE TABLE public.t (id integer PRIMARY KEY);", tmp_path)
    shutil.copy(
        project / "migrations" / "versions" / "0001_b_sql.py", project / "migrations" / "versions" / "0002_b.py"
    )
    later = project / "migrations" / "versions" / "0002_b.py"
    later.write_text(
        later.read_text()
        .replace('revision = "0001"', 'revision = "0002"')
        .replace("down_revision = None", 'down_revision = "0001"')
        .replace("op.get_bind().exec_driver_sql(B_SQL.read_text())", "pass")
    )
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="live")

    assert report.live is not None and report.live.state == "behind" and report.suggestion is None
    assert report.live.fix_error is not None and "alembic upgrade heads" in report.live.fix_error
    with psycopg.connect(libpq(live_url)) as conn:
        assert conn.execute("SELECT version_num FROM public.alembic_version").fetchall() == [("0001",)]
