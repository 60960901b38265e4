"""A live database's own objects are untrusted (DESIGN.md, trust boundary): `detect --fix` against
hostile live schemas.

Each test plants, in a "live" database, code that runs a shell command through
`COPY ... TO PROGRAM` (which only a superuser may do) and asserts that the command never ran
while the fix was still generated and verified on the copy.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from driftbot.postgres.base import Server
from driftbot.runs.detect import run_detect
from driftbot.runs.live import live_target
from driftbot.settings import Settings
from tests.helpers import libpq, sql

MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]


def alembic(project: Path, url: str, *args: str) -> None:
    ini = (project / "alembic.ini").read_text()
    deploy = project / "deploy.ini"
    deploy.write_text(ini.replace("postgresql+psycopg://localhost/placeholder", url.replace("%", "%%")))
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(deploy), *args],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def live_url(pg_server: Server) -> Iterator[str]:
    name = f"live_{secrets.token_hex(4)}"
    sql(pg_server.admin_url, f'CREATE DATABASE "{name}"')
    yield pg_server.admin_url.set(database=name).render_as_string(hide_password=False)
    sql(pg_server.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def live_owner(pg_server: Server) -> Iterator[str]:
    """A role that owns tables in the live database: not a superuser, like an application's."""
    name = f"app_{secrets.token_hex(4)}"
    sql(pg_server.admin_url, f'CREATE ROLE "{name}" NOSUPERUSER NOLOGIN')
    yield name
    sql(pg_server.admin_url, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file only the planted shell command would create (the server's OS user writes it)."""
    path = Path(f"/tmp/db{secrets.token_hex(3)}")
    yield path
    path.unlink(missing_ok=True)


def all_scratch_roles(server: Server) -> set[str]:
    with psycopg.connect(libpq(server.admin_url)) as conn:
        return {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'driftbot%'")}


def test_a_live_trigger_that_runs_shell_commands_as_superuser_never_fires_with_privileges(
    live_owner: str,
    make_project: MakeProject,
    url_settings: UrlSettings,
    live_url: str,
    marker: Path,
    pg_server: Server,
) -> None:  # live_owner first: dropped after the live database
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "0001")  # 0002 pending: the copy is migrated, alembic_version updated
    sql(
        live_url,
        "CREATE INDEX hotfix_orders_total ON orders (total)",
        f'ALTER TABLE alembic_version OWNER TO "{live_owner}"',
        f'ALTER TABLE users OWNER TO "{live_owner}"',
        f'GRANT CREATE ON SCHEMA public TO "{live_owner}"',
        f'SET ROLE "{live_owner}"',
        # harmless as the application's role; a shell command as soon as a superuser fires it
        f"""CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN
              IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}''';
              END IF;
              RETURN NEW;
            END $f$""",
        "CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON alembic_version FOR EACH ROW EXECUTE FUNCTION audit()",
        "CREATE TRIGGER audit BEFORE INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION audit()",
        # fires even under session_replication_role = replica
        "ALTER TABLE alembic_version ENABLE ALWAYS TRIGGER audit",
        "RESET ROLE",
    )
    roles_before = all_scratch_roles(pg_server)

    report = run_detect(url_settings(project), live_target(live_url), fix=True)

    assert not marker.exists(), "a trigger from the live database ran a shell command as superuser"
    assert report.live is not None and report.live.fix_error is None, report.live
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
    assert "hotfix_orders_total" in report.suggestion.content
    assert all_scratch_roles(pg_server) == roles_before  # the run's own role is gone again


def test_a_live_sequence_named_like_sql_stays_a_name_in_the_fix(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str, marker: Path
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "heads")
    evil = f"x.y;COPY(SELECT)TO PROGRAM $$touch {marker}$$;--"
    assert len(evil.encode()) <= 63
    sql(live_url, f'ALTER SEQUENCE users_id_seq RENAME TO "{evil}"')

    report = run_detect(url_settings(project), live_target(live_url), fix=True)

    assert not marker.exists(), "a sequence name was executed as SQL"
    assert any(f.kind == "column_default_changed" and f.object == "public.users.id" for f in report.findings)
    assert report.live is not None and report.live.fix_error is None, report.live
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
