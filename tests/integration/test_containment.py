"""Containment: project code that finds its own database still only ever reaches driftbot's scratch databases.

Each fixture project's env.py (or migration) builds its URL the way real projects do — an
application variable read at import, a settings object from POSTGRES_* and a `.env` file, an
engine cached at import, an async engine on asyncpg, a SQLite fallback, a raw psycopg connection.
A canary database with rows stands where every one of those variables points; after each run
its pg_dump must be byte-identical, no SQLite file may appear, and the drift must still be found
and fixed by a verified suggestion.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from canary import Database, scratch_database_with
from sqlalchemy.engine import make_url

from driftbot.cli.main import main
from driftbot.postgres.base import Server
from driftbot.report.model import Report, to_json
from driftbot.report.render import render
from driftbot.runs.check import run_check
from driftbot.runs.detect import run_detect
from driftbot.runs.live import live_target
from driftbot.settings import Secret, Settings

PROJECTS = Path(__file__).parents[1] / "fixtures" / "projects"
UrlSettings = Callable[..., Settings]


@pytest.fixture
def canary(pg_server: Server) -> Iterator[Database]:
    """The user's real database: rows that a migration run against it would destroy."""
    yield from scratch_database_with(
        pg_server,
        "canary",
        "CREATE TABLE canary_rows (id int PRIMARY KEY, note text)",
        "INSERT INTO canary_rows VALUES (1, 'keep me'), (2, 'and me')",
        "CREATE TABLE users (id int PRIMARY KEY, email varchar(255) NOT NULL)",
    )


def point_everything_at(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable a project could read its database from names `db`."""
    url = make_url(db.url)
    for name in ("APP_DB_URL", "DATABASE_URL", "SQLALCHEMY_DATABASE_URI"):
        monkeypatch.setenv(name, db.url)
    for name, value in (
        ("POSTGRES_HOST", url.host),
        ("POSTGRES_PORT", url.port),
        ("POSTGRES_USER", url.username),
        ("POSTGRES_PASSWORD", url.password),
        ("POSTGRES_DB", url.database),
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        monkeypatch.setenv(name, str(value))


def project_for(scenario: str, dest: Path) -> Path:
    """column_missing (users.display_name in the models only) with the scenario's env.py and files on top."""
    for layer in ("_base", "column_missing", scenario):
        shutil.copytree(PROJECTS / layer, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def rendered(report: Report) -> str:
    return render(report, "text") + render(report, "markdown") + to_json(report)


def assert_drift_found_and_fixed(report: Report) -> None:
    assert report.exit_code == 1, report.error
    assert "public.users.display_name" in {f.object for f in report.drift}
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion


PATTERNS = [
    "contained_set_main_option",
    "contained_settings_object",
    "contained_cached_engine",
    "contained_async_engine",
    "contained_sqlite_default",
]


@pytest.mark.parametrize("scenario", PATTERNS)
def test_project_code_that_finds_its_own_database_only_reaches_scratch(
    scenario: str, canary: Database, url_settings: UrlSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_for(scenario, tmp_path / "project")
    if scenario == "contained_settings_object":  # the pieces come from a .env file only
        url = make_url(canary.url)
        (project / ".env").write_text(
            f"POSTGRES_HOST={url.host}\nPOSTGRES_PORT={url.port}\nPOSTGRES_USER={url.username}\n"
            f"POSTGRES_PASSWORD={url.password}\nPOSTGRES_DB={url.database}\n"
        )
        monkeypatch.setenv("APP_DB_URL", canary.url)
    else:
        point_everything_at(canary, monkeypatch)
    monkeypatch.chdir(tmp_path)
    before = canary.dump()

    report = run_check(url_settings(project))

    assert canary.dump() == before
    assert not list(tmp_path.rglob("*.db")), "a SQLite file appeared"
    assert_drift_found_and_fixed(report)
    # the report says where the project's code tried to go, without the password
    requested = {r.requested for r in report.redirects}
    wanted = "sqlite:///app.db" if scenario == "contained_sqlite_default" else canary.name
    assert any(wanted in r for r in requested), report.redirects
    assert {r.step for r in report.redirects} >= {"migrate", "autogenerate", "verify"}
    text = rendered(report)
    assert canary.password not in text
    assert "Contained" in render(report, "markdown") and "contained:" in render(report, "text")
    if scenario in ("contained_set_main_option", "contained_cached_engine"):
        assert any("APP_DB_URL" in r.variables for r in report.redirects), report.redirects
        assert any(r.where.startswith("migrations/env.py:") for r in report.redirects), report.redirects


def test_a_raw_connection_from_database_url_goes_to_scratch(
    canary: Database, url_settings: UrlSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_for("contained_raw_database_url", tmp_path / "project")
    point_everything_at(canary, monkeypatch)
    before = canary.dump()

    report = run_check(url_settings(project))

    assert canary.dump() == before
    assert_drift_found_and_fixed(report)
    assert "public.audit_note" not in {f.object for f in report.drift}  # the raw migration built it in M


def test_a_raw_connection_elsewhere_is_refused_naming_the_file_and_target(
    canary: Database, url_settings: UrlSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_for("contained_raw_other_url", tmp_path / "project")
    point_everything_at(canary, monkeypatch)
    before = canary.dump()

    report = run_check(url_settings(project))

    assert canary.dump() == before
    assert report.exit_code == 3 and report.error is not None
    assert "0002_raw.py" in report.error.message and canary.name in report.error.message
    assert "refused" in report.error.message
    assert canary.password not in rendered(report)


def test_a_password_with_url_characters_reaches_env_py_as_alembic_would_pass_it(
    pg_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`@ ! % : /` in the server's password: sqlalchemy.url and DATABASE_URL both carry it intact."""
    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "0")  # a kept copy would be the role's: the role is dropped below
    password = "p@ss!w%rd:/x"
    role = f"driftbot_pw_{secrets.token_hex(3)}"
    admin = pg_server.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")  # type: ignore[arg-type]
    try:
        url = pg_server.admin_url.set(username=role, password=password).render_as_string(hide_password=False)
        project = project_for("contained_records_url", tmp_path / "project")

        code = main(["check", str(project), "--database-url", url, "--postgres", "url"])

        out, err = capsys.readouterr()
        assert code == 1, out + err
        seen = json.loads((project / "seen.json").read_text())
        assert make_url(seen["ini"]).password == password and make_url(seen["env"]).password == password
        assert password not in out + err
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")  # type: ignore[arg-type]


def test_a_password_in_a_query_parameter_is_never_printed(
    pg_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.admin_url
    query_url = f"postgresql://{url.username}@{url.host}:{url.port}/postgres?password={url.password}"
    project = project_for("contained_records_url", tmp_path / "project")
    env_py = project / "migrations" / "env.py"  # an env.py that fails, quoting the URL back
    env_py.write_text("import os\nraise RuntimeError('cannot use ' + os.environ['DATABASE_URL'])\n")

    code = main(["check", str(project), "--database-url", query_url, "--postgres", "url", "--debug"])

    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert "cannot use" in out + err
    assert str(url.password) not in out + err


@pytest.fixture
def live(pg_server: Server) -> Iterator[Database]:
    yield from scratch_database_with(pg_server, "live")


def test_detect_never_runs_project_code_on_the_live_database(
    live: Database, canary: Database, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_for("contained_set_main_option", tmp_path / "project")
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=project,
        check=True,
        capture_output=True,
        env={**os.environ, "APP_DB_URL": live.url},
        timeout=120,
    )  # production, deployed by alembic
    point_everything_at(canary, monkeypatch)
    monkeypatch.setenv("DATABASE_URL", live.url)  # the user's shell names production too
    monkeypatch.setenv("APP_DB_URL", live.url)
    live_before, canary_before = live.dump(), canary.dump()

    settings = Settings(project_dir=project, postgres="url").replace(database_url=Secret(pg_url))
    report = run_detect(settings, live_target(live.url), fix=True)

    assert live.dump() == live_before and canary.dump() == canary_before
    assert report.exit_code == 1, report.error
    assert "public.users.display_name" in {f.object for f in report.drift}
    # the variables that named production held a placeholder: the live server never reached project code
    live_server = f"{make_url(live.url).host}:{make_url(live.url).port}"
    assert report.redirects and all(live_server not in r.requested for r in report.redirects), report.redirects
    assert any("driftbot-hidden.invalid" in r.requested for r in report.redirects)
    assert live.password not in json.dumps(to_json(report))
