"""`driftbot detect` and `driftbot status` against "live" databases on a real PostgreSQL.

A live database here is an ordinary database on the session's server, migrated by Alembic
itself (a subprocess, as a deployment would) and then changed by hand the way production
databases drift: a hotfix index, a widened column, a migration that never ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from driftbot.cli.main import main
from driftbot.compare.catalog import read_catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.postgres.base import Server
from driftbot.postgres.local import local_server
from driftbot.report.model import Report, from_dict, to_json
from driftbot.report.render import render_live
from driftbot.runs.detect import run_detect, run_status
from driftbot.runs.live import (
    LiveDatabaseError,
    LiveTarget,
    client_bindir,
    live_target,
    mask_url,
    read_only,
    read_revisions,
)
from driftbot.settings import Settings
from tests.helpers import libpq, sql

SCHEMA = json.loads((Path(__file__).parents[2] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())
MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]


# --- a live database and how it gets there ---------------------------------------------------------------


@pytest.fixture
def live_url(pg_server: Server) -> Iterator[str]:
    """A fresh database on the session's server, standing in for production."""
    name = f"live_{secrets.token_hex(4)}"
    admin = libpq(pg_server.admin_url)
    sql(admin, f'CREATE DATABASE "{name}"')
    yield pg_server.admin_url.set(database=name).render_as_string(hide_password=False)
    sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic(project: Path, url: str, *args: str) -> None:
    """Alembic itself, as a deployment runs it, against `url` (through a copy of alembic.ini)."""
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


def drifted_production(make_project: MakeProject, url: str) -> Path:
    """live_three_way at 0001 (0002 pending), a hotfix index and a widened column made by hand, some rows."""
    project = make_project("live_three_way")
    alembic(project, url, "upgrade", "0001")
    sql(
        url,
        "CREATE INDEX hotfix_orders_total ON orders (total)",
        "ALTER TABLE users ALTER email TYPE varchar(320)",
        "INSERT INTO users (email) VALUES ('ada@example.com'), ('grace@example.com')",
        "INSERT INTO orders (user_id, total) SELECT id, 9.99 FROM users",
    )
    return project


def dump(url: str, server: Server) -> str:
    """Schema and data, as pg_dump writes them (minus the per-run \\restrict key)."""
    parsed = make_url(url)
    env = {**os.environ, "PGPASSWORD": str(parsed.password)}
    pg_dump = client_bindir(server.major, server.major) / "pg_dump"
    out = subprocess.run(
        [str(pg_dump), "--no-sync", f"--dbname={libpq(parsed.set(password=None))}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def render_text(report: Report) -> str:
    return render_live(report, "text")


def render_markdown(report: Report) -> str:
    return render_live(report, "markdown")


def target(url: str, **timeouts: float) -> LiveTarget:
    return live_target(url, **timeouts)


def password_of(url: str) -> str:
    value = make_url(url).password
    assert value
    return str(value)


def classified(report: Report) -> dict[tuple[str, str], str | None]:
    return {(f.kind, f.object): f.classification for f in report.findings}


def by_object(report: Report, kind: str, obj: str) -> tuple[str | None, str | None, str | None]:
    [f] = [f for f in report.findings if f.kind == kind and f.object == obj]
    return f.live, f.migrations, f.models


def load_models(project: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"models_{secrets.token_hex(4)}", project / "models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the three-way comparison --------------------------------------------------------------------------


def test_live_database_at_the_heads_matching_the_models_is_in_line(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("clean_everything")  # enums, identity, checks, partial and expression indexes
    alembic(project, live_url, "upgrade", "heads")

    report = run_detect(url_settings(project), target(live_url))

    assert report.error is None, report.error
    assert report.findings == ()
    assert (report.status, report.exit_code) == ("clean", 0)
    assert report.live is not None
    assert (report.live.state, report.live.current, report.live.compared) == ("up_to_date", ("0002",), True)
    assert "In line" in render_text(report)


def test_each_difference_is_classified_three_ways(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = drifted_production(make_project, live_url)

    report = run_detect(url_settings(project), target(live_url))

    assert (report.status, report.exit_code) == ("drift", 1), report.error
    assert classified(report) == {
        ("revisions_pending", "public.alembic_version"): "pending_migration",
        ("column_missing", "public.users.nickname"): "pending_migration",
        ("index_missing", "public.orders.ix_orders_user_id"): "pending_migration",
        ("index_extra", "public.orders.hotfix_orders_total"): "changed_outside_migrations",
        ("column_type_changed", "public.users.email"): "changed_outside_migrations",
        ("column_missing", "public.users.created_at"): "models_ahead_of_migrations",
    }
    # each finding carries the live database's, the migrations' (heads) and the models' definitions
    assert by_object(report, "column_type_changed", "public.users.email") == (
        "character varying(320)",
        "character varying(255)",
        "character varying(255)",
    )
    assert by_object(report, "column_missing", "public.users.nickname") == (
        None,
        "character varying(50)",
        "character varying(50)",
    )
    assert by_object(report, "column_missing", "public.users.created_at") == (
        None,
        None,
        "timestamp with time zone NOT NULL DEFAULT now()",
    )
    live, migrations, models = by_object(report, "index_extra", "public.orders.hotfix_orders_total")
    assert live == "CREATE INDEX hotfix_orders_total ON public.orders USING btree (total)"
    assert (migrations, models) == (None, None)
    assert report.live is not None
    assert report.live.state == "behind" and report.live.current == ("0001",) and report.live.heads == ("0002",)
    assert [(p.revision, p.message) for p in report.live.pending] == [
        ("0002", "add users.nickname and an index on orders.user_id")
    ]
    assert report.live.database == mask_url(live_url) and password_of(live_url) not in report.live.database

    data = json.loads(to_json(report))
    jsonschema.validate(data, SCHEMA)
    assert from_dict(data) == report
    text_report = render_text(report)
    assert "behind by 1 revision(s)" in text_report
    assert "Changed outside migrations" in text_report and "Models ahead of migrations" in text_report
    markdown = render_markdown(report)
    assert (
        "| `public.users.email` | column\\_type\\_changed | `character varying(320)` | "
        "`character varying(255)` | `character varying(255)` |"
    ) in markdown
    assert "#### Changed outside migrations" in markdown
    assert password_of(live_url) not in text_report + markdown


def test_constant_defaults_are_settled_on_a_scratch_database(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    """numeric 1.0 / 1.00 / 1.000 are one value (IS NOT DISTINCT FROM, asked of the scratch M, never the
    live database): notes in all three directions; 1.0 vs 2.0 and a hand-made 3 stay drift."""
    project = make_project("default_not_distinct")
    alembic(project, live_url, "upgrade", "heads")
    sql(live_url, "ALTER TABLE items ALTER price SET DEFAULT 1.000", "ALTER TABLE items ALTER qty SET DEFAULT 3")

    report = run_detect(url_settings(project), target(live_url))

    assert report.error is None, report.error
    assert sorted((f.classification or "", f.object, f.severity) for f in report.findings) == [
        ("changed_outside_migrations", "public.items.price", "info"),
        ("changed_outside_migrations", "public.items.qty", "high"),
        ("models_ahead_of_migrations", "public.items.price", "info"),
        ("models_ahead_of_migrations", "public.items.qty", "high"),
    ]


def test_a_live_database_without_a_version_table_is_at_the_base(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "heads")
    sql(live_url, "DROP TABLE alembic_version")  # built by hand (or create_all) and never stamped

    report = run_detect(url_settings(project), target(live_url))

    assert report.live is not None
    assert (report.live.state, report.live.current) == ("behind", ())
    assert [p.revision for p in report.live.pending] == ["0001", "0002"]
    found = classified(report)
    assert found[("table_extra", "public.users")] == "changed_outside_migrations"  # no migration says it ran
    assert found[("revisions_pending", "public.alembic_version")] == "pending_migration"
    assert report.exit_code == 1


def test_an_unknown_revision_is_reported_with_the_findings_and_exits_3(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "heads")
    sql(live_url, "UPDATE alembic_version SET version_num = 'feedfacecafe'")

    report = run_detect(url_settings(project), target(live_url))

    assert (report.status, report.exit_code) == ("error", 3)
    assert report.live is not None
    assert (report.live.state, report.live.unknown, report.live.pending) == ("unknown_revision", ("feedfacecafe",), ())
    assert report.error is not None and report.error.stage == "live" and "feedfacecafe" in report.error.message
    # the comparison still ran: against the heads
    assert classified(report) == {("column_missing", "public.users.created_at"): "models_ahead_of_migrations"}
    jsonschema.validate(json.loads(to_json(report)), SCHEMA)


# --- read-only, and the fix ----------------------------------------------------------------------------


def test_detect_fix_leaves_the_live_database_byte_identical_and_writes_a_verified_migration(
    make_project: MakeProject,
    pg_url: str,
    pg_server: Server,
    live_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = drifted_production(make_project, live_url)
    before = dump(live_url, pg_server)
    report_file = tmp_path / "drift-report.json"

    code = main(
        [
            "detect",
            str(project),
            "--database-url",
            live_url,
            "--scratch-database-url",
            pg_url,
            "--fix",
            "--format",
            "json",
            "-o",
            str(report_file),
        ]
    )

    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert dump(live_url, pg_server) == before  # catalog and data: nothing was written, nothing was migrated
    data = json.loads(report_file.read_text())
    jsonschema.validate(data, SCHEMA)
    suggestion = data["suggestion"]
    assert suggestion["verified"] and suggestion["written"], suggestion
    assert [c["name"] for c in suggestion["checks"] if c["passed"]] == [
        "upgrade",
        "no_drift",
        "downgrade",
        "downgrade_restores",
        "upgrade_again",
    ]
    assert suggestion["down_revision"] == ["0002"]  # after the pending revision
    fix = Path(suggestion["path"])
    assert fix.parent == project / "migrations" / "versions" and fix.is_file()
    content = fix.read_text()
    assert "drop_index" in content and "hotfix_orders_total" in content and "created_at" in content
    assert "reverts the 2 change(s) made outside the migrations" in out
    for secret in (password_of(live_url), password_of(pg_url)):
        assert secret not in out + err + report_file.read_text()

    # independently of driftbot's own verification: a copy of production, upgraded by Alembic
    # with the fix, is exactly what the models build
    copy_name = f"copy_{secrets.token_hex(4)}"
    models_name = f"models_{secrets.token_hex(4)}"
    base = make_url(live_url)
    sql(
        libpq(pg_server.admin_url),
        f'CREATE DATABASE "{copy_name}" TEMPLATE "{base.database}"',
        f'CREATE DATABASE "{models_name}"',
    )
    copy_url = base.set(database=copy_name).render_as_string(hide_password=False)
    try:
        alembic(project, copy_url, "upgrade", "heads")
        models = load_models(project)
        engine = create_engine(base.set(database=models_name), poolclass=NullPool)
        with engine.begin() as conn:
            models.Base.metadata.create_all(conn)  # type: ignore[attr-defined]
        with engine.connect() as conn:
            declared = read_catalog(conn)
        engine.dispose()
        engine = create_engine(make_url(copy_url), poolclass=NullPool)
        with engine.connect() as conn:
            upgraded = read_catalog(conn, exclude=frozenset({("public", "alembic_version")}))
        engine.dispose()
        assert [f for f in diff_catalogs(upgraded, declared) if f.is_drift] == []
    finally:
        sql(
            libpq(pg_server.admin_url),
            f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{models_name}" WITH (FORCE)',
        )


def test_fix_when_upgrade_heads_alone_brings_it_to_the_models(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("clean_everything")
    alembic(project, live_url, "upgrade", "0001")

    report = run_detect(url_settings(project), target(live_url), fix=True)

    assert report.exit_code == 1 and report.live is not None and report.live.state == "behind"
    assert {f.classification for f in report.findings} == {"pending_migration"}
    assert report.suggestion is None and report.live.fix_error is None
    assert "No fix migration needed: `alembic upgrade heads`" in render_text(report)
    assert len(list((project / "migrations" / "versions").glob("*.py"))) == 2  # nothing written


def test_fix_reports_a_pending_revision_that_would_fail_on_the_live_database(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "0001")
    sql(live_url, "ALTER TABLE users ADD COLUMN nickname varchar(50)")  # what 0002 adds, by hand

    report = run_detect(url_settings(project), target(live_url), fix=True)

    assert report.live is not None and report.suggestion is None
    assert report.live.fix_error is not None
    assert report.live.fix_error.startswith("revision 0002 fails on a copy of the live schema")
    assert "DuplicateColumn" in report.live.fix_error
    # reported once, as what it is: a change made outside the migrations
    assert classified(report)[("column_extra", "public.users.nickname")] == "changed_outside_migrations"


def test_every_live_connection_is_read_only_and_bounded(make_project: MakeProject, live_url: str) -> None:
    alembic(make_project("live_three_way"), live_url, "upgrade", "heads")
    live = target(live_url, statement_timeout=0.5, lock_timeout=0.25)

    with read_only(live) as conn:
        settings = conn.execute(
            text(
                "SELECT current_setting('transaction_read_only'), current_setting('default_transaction_read_only'), "
                "current_setting('statement_timeout'), current_setting('lock_timeout'), "
                "current_setting('transaction_isolation'), current_setting('application_name')"
            )
        ).one()
        assert tuple(settings) == ("on", "on", "500ms", "250ms", "repeatable read", "driftbot")
    for statement in (
        "CREATE TABLE intruder (id int)",
        "INSERT INTO alembic_version VALUES ('x')",
        "UPDATE alembic_version SET version_num = 'x'",
        "DROP INDEX ix_orders_user_id",
    ):
        with pytest.raises(LiveDatabaseError, match="read-only transaction"), read_only(live) as conn:
            conn.execute(text(statement))
    with pytest.raises(LiveDatabaseError, match="read-only transaction"), read_only(live) as conn:
        conn.commit()  # even a new transaction on the same session starts read-only
        conn.execute(text("CREATE TABLE intruder (id int)"))
    started = time.perf_counter()
    with pytest.raises(LiveDatabaseError, match=r"statement timeout \(0.5s\)"), read_only(live) as conn:
        conn.execute(text("SELECT pg_sleep(10)"))
    assert time.perf_counter() - started < 5


def test_reading_the_catalog_takes_no_locks_beyond_the_catalog_and_the_version_table(
    make_project: MakeProject, live_url: str
) -> None:
    alembic(make_project("live_three_way"), live_url, "upgrade", "heads")

    with read_only(target(live_url)) as conn:
        read_catalog(conn)
        assert read_revisions(conn, ("public", "alembic_version")) == ("0002",)
        locks = conn.execute(
            text(
                "SELECT c.relname, n.nspname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE l.locktype = 'relation' AND l.pid = pg_backend_pid() AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).all()
    assert {mode for _, _, mode in locks} == {"AccessShareLock"}
    user_relations = {name for name, schema, _ in locks if schema != "pg_catalog"}
    # the version table and its primary key (planning the SELECT); no table, index or sequence of the application
    assert user_relations == {"alembic_version", "alembic_version_pkc"}
    assert len(locks) > 10  # (the query above did see the catalog's own locks)


def test_a_lock_held_by_another_session_makes_it_give_up_not_wait(
    make_project: MakeProject, live_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "heads")
    with psycopg.connect(libpq(live_url)) as ddl:  # a migration holding its lock
        ddl.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        started = time.perf_counter()
        code = main(["status", str(project), "--database-url", live_url, "--lock-timeout", "0.3"])
        elapsed = time.perf_counter() - started
        ddl.rollback()
    _, err = capsys.readouterr()
    assert code == 4 and elapsed < 5
    assert err.count("\n") == 1 and "lock timeout (0.3s)" in err
    assert password_of(live_url) not in err


# --- status --------------------------------------------------------------------------------------------


def test_status_lists_the_pending_revisions_like_alembic(
    make_project: MakeProject, live_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("live_three_way")
    alembic(project, live_url, "upgrade", "0001")
    report_file = tmp_path / "status.json"

    code = main(["status", str(project), "--database-url", live_url, "--format", "json", "-o", str(report_file)])

    out, _ = capsys.readouterr()
    assert code == 1
    assert "public.alembic_version: 0001 · heads: 0002" in out
    assert (
        "0002  add users.nickname and an index on orders.user_id  "
        "(migrations/versions/0002_nickname_and_order_index.py)" in out
    )
    data = json.loads(report_file.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["live"]["state"] == "behind" and data["live"]["compared"] is False
    assert [p["revision"] for p in data["live"]["pending"]] == ["0002"]
    assert data["postgres"] is None  # no scratch server for a status

    alembic(project, live_url, "upgrade", "heads")
    assert main(["status", str(project), "--database-url", live_url]) == 0
    assert "up to date" in capsys.readouterr().out


def test_status_finds_the_version_table_env_py_renames(
    make_project: MakeProject, url_settings: UrlSettings, live_url: str
) -> None:
    project = make_project("version_table_custom")  # an online-only env.py: version_table="schema_migrations"
    alembic(project, live_url, "upgrade", "heads")

    report = run_status(url_settings(project), target(live_url))

    assert report.live is not None
    assert (report.live.version_table, report.live.current, report.live.state) == (
        "public.schema_migrations",
        ("0001",),
        "up_to_date",
    )
    assert report.exit_code == 0


# --- connection failures: one line, exit 4, no password --------------------------------------------------


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTBOT_", "PG")) and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "driftbot", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(sock.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield int(sock.getsockname()[1])
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()


@pytest.mark.parametrize("case", ["bad_host", "bad_password", "timeout", "ssl_required_by_client"])
def test_connection_failures_are_one_line_and_exit_4(
    case: str, make_project: MakeProject, live_url: str, silent_server: int
) -> None:
    project = make_project("live_three_way")
    url = make_url(live_url)
    secret = "s3cr3t-" + secrets.token_hex(6)
    urls = {
        "bad_host": url.set(host="no-such-host.invalid", password=secret),
        "bad_password": url.set(password=secret),
        "timeout": url.set(host="127.0.0.1", port=silent_server, password=secret),
        "ssl_required_by_client": url.set(password=secret).update_query_dict({"sslmode": "require"}),
    }
    expected = {
        "bad_host": "no-such-host.invalid",
        "bad_password": "password authentication failed",
        "timeout": "no answer within 1s (--connect-timeout)",
        "ssl_required_by_client": "server does not support SSL, but SSL was required",
    }
    command = "detect" if case == "bad_password" else "status"  # detect fails before any scratch work
    started = time.perf_counter()
    result = run_cli(
        command,
        str(project),
        "--database-url",
        urls[case].render_as_string(hide_password=False),
        "--connect-timeout",
        "1",
    )

    assert result.returncode == 4, result.stdout + result.stderr
    assert time.perf_counter() - started < 30
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("driftbot: cannot connect to the live database postgresql+psycopg://postgres:***@")
    assert expected[case] in lines[0]
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_requires_ssl_is_named_as_such(make_project: MakeProject) -> None:
    project = make_project("live_three_way")
    with local_server() as server:
        admin = libpq(server.admin_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            hba = conn.execute("SHOW hba_file").fetchone()
            assert hba is not None
            # only unix-socket connections: a TCP client without SSL finds no entry, as with hostssl
            Path(str(hba[0])).write_text("local all all trust\n")
            conn.execute("SELECT pg_reload_conf()")
        result = run_cli(
            "status",
            str(project),
            "--database-url",
            server.admin_url.render_as_string(hide_password=False),
            "--connect-timeout",
            "2",
        )

    assert result.returncode == 4
    [line] = result.stderr.splitlines()
    assert "no encryption" in line and "requires SSL: add ?sslmode=require" in line
    assert str(server.admin_url.password) not in result.stderr


def test_bad_urls_and_timeouts_are_usage_errors(make_project: MakeProject) -> None:
    project = make_project("live_three_way")
    for args, message in (
        (["--database-url", "mysql://u:topsecret@h/db"], "must point at PostgreSQL"),
        (["--database-url", "not a url topsecret"], "not a valid database URL"),
        ([], "no live database given"),
        (
            ["--database-url", "postgresql://u:topsecret@h/db", "--lock-timeout", "0"],
            "--lock-timeout must be a positive",
        ),
    ):
        result = run_cli("status", str(project), *args)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "topsecret" not in result.stderr


def test_passwords_in_query_parameters_are_masked_too() -> None:
    masked = mask_url("postgresql://app:letmein@db.internal/prod?password=hunter2&sslmode=require")
    assert "hunter2" not in masked and "letmein" not in masked
    assert masked.startswith("postgresql://app:***@db.internal/prod?") and "sslmode=require" in masked
    heroku = live_target("postgres://app:letmein@db.internal/prod")  # the scheme Heroku's DATABASE_URL uses
    assert heroku.sqlalchemy_url.drivername == "postgresql+psycopg" and "letmein" not in heroku.display
