"""The DB-to-DB suite: a live database (a.sql) against what the migrations build (b.sql), per kind.

Each pair in tests/fixtures/db_pairs/ is loaded as it is: a.sql into a fresh "live" database
stamped at the head, b.sql through the `db_pair` project's one revision. `driftbot detect` must
name exactly the objects listed in the pair's `expected`, as changed outside the migrations.
One server for all of them (the session's).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import chdir
from pathlib import Path

import jsonschema
import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from driftbot.compare.kinds import OBJECT_TYPES
from driftbot.postgres.base import Server, libpq_conninfo, scratch_database, scratch_role
from driftbot.project.locate import load_project
from driftbot.project.migrate import upgrade
from driftbot.report.model import Report, to_json
from driftbot.report.render import render_live
from driftbot.runs.detect import run_detect
from driftbot.runs.live import client_bindir, live_target
from driftbot.runs.scratch import project_import_scope
from driftbot.settings import Secret, Settings
from driftbot.suggest.generate import CHECKS, read
from driftbot.suggest.undo import NOT_UNDONE, converge, script
from tests.conftest import materialize
from tests.helpers import libpq

PAIRS = Path(__file__).parents[1] / "fixtures" / "db_pairs"
SCHEMA = json.loads((Path(__file__).parents[2] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())
CASES = sorted(p.name for p in PAIRS.iterdir() if (p / "a.sql").is_file())


@pytest.fixture
def live_from(pg_server: Server) -> Iterator[Callable[[str], str]]:
    made: list[str] = []
    admin = libpq(pg_server.admin_url.render_as_string(hide_password=False))

    def make(a_sql: str) -> str:
        name = f"pair_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        made.append(name)
        url = pg_server.admin_url.set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute(a_sql.encode())
            # stamped at the head, as `alembic stamp head` leaves it
            conn.execute(b"CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)")
            conn.execute(b"INSERT INTO public.alembic_version VALUES ('0001')")
        return url

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def pair_project(case: str, tmp_path: Path) -> Path:
    project = materialize("db_pair", tmp_path / "project")
    shutil.copy(PAIRS / case / "b.sql", project / "migrations" / "versions" / "b.sql")
    return project


def expected(case: str) -> list[str]:
    return sorted(line.strip() for line in (PAIRS / case / "expected").read_text().splitlines() if line.strip())


@pytest.mark.parametrize("case", CASES)
def test_detect_names_every_object_that_differs(
    case: str, tmp_path: Path, pg_url: str, live_from: Callable[[str], str]
) -> None:
    live_url = live_from((PAIRS / case / "a.sql").read_text())
    settings = Settings(project_dir=pair_project(case, tmp_path), postgres="url", database_url=Secret(pg_url))

    report = run_detect(settings, live_target(live_url))

    assert report.error is None, report.error
    named = sorted(
        f"{f.kind} {f.object}"
        for f in report.findings
        if f.classification == "changed_outside_migrations" and f.is_drift
    )
    assert named == expected(case)
    assert report.live is not None and report.live.state == "up_to_date"


# --- who has an opinion ------------------------------------------------------------------------------

OBJECTS = [
    "comment_missing view public.rich",
    "function_missing public.no_negative()",
    "grant_missing public.accounts TO PUBLIC",
    "policy_missing public.accounts.visible",
    "row_security_missing public.accounts",
    "trigger_missing public.accounts.accounts_no_negative",
    "view_missing public.rich",
]


def test_check_never_reports_what_models_cannot_declare(check_fixture: Callable[..., Report]) -> None:
    report = check_fixture("objects_only_in_migrations", suggest=False)

    assert report.error is None, report.error
    assert [f"{f.kind} {f.object}" for f in report.findings] == []
    assert (report.status, report.exit_code) == ("clean", 0)


def test_detect_names_them_when_the_live_database_lacks_them(
    make_project: Callable[[str], Path], pg_url: str, live_from: Callable[[str], str]
) -> None:
    live_url = live_from("CREATE TABLE public.accounts (id serial PRIMARY KEY, balance integer NOT NULL)")
    settings = Settings(
        project_dir=make_project("objects_only_in_migrations"), postgres="url", database_url=Secret(pg_url)
    )

    report = run_detect(settings, live_target(live_url))

    assert report.error is None, report.error
    assert sorted(f"{f.kind} {f.object}" for f in report.findings) == OBJECTS
    assert {f.classification for f in report.findings} == {"changed_outside_migrations"}
    [view] = [f for f in report.findings if f.kind == "view_missing"]
    assert (view.live, view.models) == (None, None)
    assert (
        view.migrations
        == "CREATE VIEW public.rich AS SELECT accounts.id\n   FROM accounts\n  WHERE (accounts.balance > 1000)"
    )


# --- toward the migrations: undo the hand changes, converge --------------------------------------------

UNDONE = [c for c in CASES if all(line.split()[0].rsplit("_", 1)[0] in OBJECT_TYPES for line in expected(c))]


def pg_dump(server: Server, url: URL) -> str:
    """The schema as pg_dump writes it, owners and the per-run \\restrict key aside."""
    pg_dump = client_bindir(server.major, server.major) / "pg_dump"
    out = subprocess.run(
        [
            str(pg_dump),
            "--schema-only",
            "--no-owner",
            "--no-sync",
            "--restrict-key=driftbot",
            f"--dbname={libpq_conninfo(url)}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    keep = [
        line for line in out.splitlines() if line.strip() and not line.startswith(("--", "SET ", "SELECT pg_catalog."))
    ]
    return "\n".join(keep)


@pytest.mark.parametrize("case", UNDONE)
def test_fix_to_migrations_converges(case: str, pg_server: Server) -> None:
    with (
        scratch_role(pg_server) as role,
        scratch_database(pg_server, "live", owner=role) as live,
        scratch_database(pg_server, "m") as built,
    ):
        as_role = role.url(live)
        # the live side is the role's own, as a restored copy of production is (never a superuser's)
        with psycopg.connect(libpq_conninfo(as_role), autocommit=True) as conn:
            conn.execute((PAIRS / case / "a.sql").read_text().encode())
        with psycopg.connect(libpq_conninfo(built), autocommit=True) as conn:
            conn.execute((PAIRS / case / "b.sql").read_text().encode())
        migrations = read(built, frozenset())

        def apply(statements: list[str]) -> None:
            with psycopg.connect(libpq_conninfo(as_role)) as conn, conn.transaction():
                for statement in statements:
                    conn.execute(statement.encode())

        undo = converge(lambda: read(as_role, frozenset()), apply, migrations)

        assert undo.error is None, undo.error
        not_undone = [f"{f.kind} {f.object}" for f in undo.remaining]
        assert not_undone == [e for e in expected(case) if e.split()[0].rsplit("_", 1)[0] in NOT_UNDONE]
        if not not_undone:
            assert bool(undo.statements) == bool(expected(case))  # nothing to undo: nothing done
            assert script(undo).startswith("-- driftbot") or not undo.statements
            assert pg_dump(pg_server, as_role).replace(role.name, "OWNER") == pg_dump(pg_server, built).replace(
                str(pg_server.admin_url.username), "OWNER"
            )


def test_detect_fix_to_migrations_writes_sql_that_undoes_the_hand_changes(
    make_project: Callable[[str], Path], pg_server: Server, pg_url: str, live_from: Callable[[str], str]
) -> None:
    live_url = live_from(
        "CREATE TABLE public.accounts (id serial PRIMARY KEY, balance integer NOT NULL);"
        "CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        "CREATE TRIGGER accounts_audit AFTER UPDATE ON public.accounts FOR EACH ROW EXECUTE FUNCTION public.audit();"
        "GRANT INSERT ON public.accounts TO PUBLIC;"
    )
    project = make_project("objects_only_in_migrations")
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)
    before = pg_dump(pg_server, make_url(live_url))

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="migrations")

    assert report.error is None, report.error
    assert pg_dump(pg_server, make_url(live_url)) == before  # nothing written to production
    assert report.live is not None and report.live.undo is not None
    undo = report.live.undo
    assert (undo.error, undo.remaining, undo.path) == (None, (), str(project / "driftbot-undo.sql"))
    text = Path(undo.path).read_text()
    assert "DROP TRIGGER accounts_audit ON public.accounts" in text and "CREATE POLICY visible" in text
    jsonschema.validate(json.loads(to_json(report)), SCHEMA)
    assert f"Back to what the migrations build: {undo.path}" in render_live(report, "text")
    assert "DROP TRIGGER accounts_audit ON public.accounts" in render_live(report, "markdown")

    with psycopg.connect(libpq(live_url), autocommit=True) as conn:  # what the DBA does with the file
        conn.execute(text.encode())
    (project / "driftbot-undo.sql").unlink()
    again = run_detect(settings, live_target(live_url))
    assert [f"{f.kind} {f.object}" for f in again.findings if f.classification != "models_ahead_of_migrations"] == []


# --- toward the live database: adopt the hand changes as a revision -------------------------------------

# pairs no revision of driftbot's can adopt, and what detect says instead of writing one
NOT_ADOPTED = {"partition_key_changed": "partition_key public.events"}


# what pg_dump still writes otherwise after the revision: no ALTER makes a column that a table has of
# its own an inherited one only (attislocal), so the adopted child keeps `id` as its own column too
STILL_DUMPED = {"inherits_by_hand": "    id integer,\n"}


def migrated(project: Path, url: URL) -> None:
    """`alembic upgrade heads` of the project (its revision files, the adopting one too) into `url`."""
    with chdir(project), project_import_scope():
        proj, cfg, script = load_project(project / "alembic.ini")
        run, _ = upgrade(proj, cfg, script, url, ("DATABASE_URL",))
    assert run.failure is None, run.failure


@pytest.mark.parametrize("case", CASES)
def test_fix_to_live_makes_the_migrations_build_the_live_database(
    case: str, tmp_path: Path, pg_server: Server, pg_url: str, live_from: Callable[[str], str]
) -> None:
    live_url = live_from((PAIRS / case / "a.sql").read_text())
    project = pair_project(case, tmp_path)
    versions = project / "migrations" / "versions"
    before = sorted(p.name for p in versions.iterdir())
    settings = Settings(project_dir=project, postgres="url", database_url=Secret(pg_url), suggest=False)

    report = run_detect(settings, live_target(live_url), fix=True, fix_to="live")

    assert report.error is None, report.error
    assert report.live is not None
    if not expected(case):  # nothing changed by hand: nothing to adopt
        assert report.suggestion is None and sorted(p.name for p in versions.iterdir()) == before
        return
    if case in NOT_ADOPTED:  # said so, and no revision written
        assert report.suggestion is None and report.live.fix_error is not None
        assert NOT_ADOPTED[case] in report.live.fix_error
        assert sorted(p.name for p in versions.iterdir()) == before
        return
    assert report.live.fix_error is None, report.live.fix_error
    suggestion = report.suggestion
    assert suggestion is not None and suggestion.verified and suggestion.written, suggestion
    assert [c.name for c in suggestion.checks if c.passed] == list(CHECKS)
    assert Path(suggestion.path).parent == versions and "Revises: 0001\n" in suggestion.content
    with scratch_database(pg_server, "adopted") as built:
        migrated(project, built)
        # the version table's key is named as alembic names it there, by hand in the live database
        adopted = pg_dump(pg_server, built).replace("alembic_version_pkc", "alembic_version_pkey")
        if case in STILL_DUMPED:
            assert STILL_DUMPED[case] in adopted
            adopted = adopted.replace(STILL_DUMPED[case], "", 1)
        assert adopted == pg_dump(pg_server, make_url(live_url))
    with psycopg.connect(libpq(live_url), autocommit=True) as conn:  # what the DBA does: `alembic stamp`
        conn.execute(f"UPDATE public.alembic_version SET version_num = '{suggestion.revision}'".encode())
    again = run_detect(settings, live_target(live_url))
    assert [f"{f.kind} {f.object}" for f in again.findings if f.classification != "models_ahead_of_migrations"] == []
