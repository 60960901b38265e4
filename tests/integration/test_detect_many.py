"""`driftbot detect` of several live databases, and of the tenant schemas of one, on a real PostgreSQL.

The migrations and the models are built once for all of them; each database is read on its
own read-only connection, one after another, and reported by name (password masked); the exit
code is the worst of all.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy.engine import make_url

from driftbot.cli.main import main
from driftbot.postgres.base import Server
from driftbot.report.model import from_dict
from driftbot.runs import detect_many
from driftbot.runs.live import mask_url
from driftbot.safety.containment import HIDDEN_HOST
from driftbot.safety.escape import table_code
from tests.helpers import sql

SCHEMA = json.loads((Path(__file__).parents[2] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())
MakeProject = Callable[[str], Path]
LiveDb = Callable[[], str]


@pytest.fixture
def live_db(pg_server: Server) -> Iterator[LiveDb]:
    """Fresh databases on the session's server, standing in for production, each owned by a role
    of its own with its own password; dropped afterwards."""
    admin = pg_server.admin_url.render_as_string(hide_password=False)
    names: list[str] = []

    def make() -> str:
        name, password = f"live_{secrets.token_hex(4)}", secrets.token_hex(8)
        sql(admin, f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'", f'CREATE DATABASE "{name}" OWNER "{name}"')
        names.append(name)
        return pg_server.admin_url.set(database=name, username=name, password=password).render_as_string(
            hide_password=False
        )

    yield make
    for name in names:
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"')


def deploy(project: Path, url: str) -> None:
    """`alembic upgrade heads`, as a deployment runs it."""
    ini = project / "deploy.ini"
    ini.write_text(
        (project / "alembic.ini")
        .read_text()
        .replace("postgresql+psycopg://localhost/placeholder", url.replace("%", "%%"))
    )
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "heads"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def password_of(url: str) -> str:
    value = make_url(url).password
    assert value
    return str(value)


@pytest.fixture
def scratch_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often the migrations' and models' databases are built (the real build, counted)."""
    calls: list[int] = []
    real = detect_many.build_scratch

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_many, "build_scratch", counted)
    return calls


def detect(
    project: Path, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any], str]:
    """`driftbot detect ... --format json -o FILE`: exit code, the JSON report (validated), all output."""
    out_file = tmp_path / f"report-{secrets.token_hex(3)}.json"
    code = main(
        ["detect", str(project), "--scratch-database-url", pg_url, "--format", "json", "-o", str(out_file), *args]
    )
    out, err = capsys.readouterr()
    text = out_file.read_text()
    data = json.loads(text)
    jsonschema.validate(data, SCHEMA)
    assert from_dict(data).databases == tuple(from_dict(data).databases)  # it reads back
    return code, data, out + err + text


def statuses(data: dict[str, Any]) -> list[tuple[str, str | None, str, int]]:
    return [(d["database"], d["schema"], d["report"]["status"], d["report"]["exit_code"]) for d in data["databases"]]


def findings(entry: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["kind"], f["object"], f["classification"]) for f in entry["report"]["findings"]}


def test_two_live_databases_one_drifted_one_clean_are_each_reported_and_exit_1(
    make_project: MakeProject,
    pg_url: str,
    live_db: LiveDb,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scratch_builds: list[int],
) -> None:
    project = make_project("clean_everything")
    clean, drifted = live_db(), live_db()
    for url in (clean, drifted):
        deploy(project, url)
    sql(drifted, "CREATE INDEX hotfix_orders_status ON orders (status)")

    code, data, output = detect(project, pg_url, tmp_path, capsys, "--database-url", clean, "--database-url", drifted)

    assert code == 1, output
    assert (data["status"], data["exit_code"]) == ("drift", 1)
    assert statuses(data) == [(mask_url(clean), None, "clean", 0), (mask_url(drifted), None, "drift", 1)]
    assert findings(data["databases"][0]) == set()
    assert findings(data["databases"][1]) == {
        ("index_extra", "public.orders.hotfix_orders_status", "changed_outside_migrations")
    }
    assert scratch_builds == [1]  # the migrations and the models, built once for both
    assert "migrate" in data["timings"]
    assert all("migrate" not in d["report"]["timings"] for d in data["databases"])
    for url in (pg_url, clean, drifted):
        assert password_of(url) not in output

    # the terminal and Markdown summaries name each database
    code = main(
        ["detect", str(project), "--scratch-database-url", pg_url, "--database-url", clean, "--database-url", drifted]
    )
    text = capsys.readouterr().out
    assert code == 1
    assert f"  in line  {mask_url(clean)}: in line\n" in text
    assert f"  DRIFT    {mask_url(drifted)}: 1 finding(s): 1 changed outside migrations\n" in text
    assert "hotfix_orders_status" in text and "worst: drift (exit 1)" in text
    main(
        [
            "detect",
            str(project),
            "--scratch-database-url",
            pg_url,
            "--database-url",
            clean,
            "--database-url",
            drifted,
            "--format",
            "markdown",
        ]
    )
    markdown = capsys.readouterr().out
    assert password_of(clean) not in text + markdown and password_of(drifted) not in text + markdown
    assert "## driftbot: 2 live database(s), drift found" in markdown
    # escaped as every cell is (an @ never mentions anyone)
    assert f"| {table_code(mask_url(drifted))} | — | drift | `1 finding(s): 1 changed outside migrations` |" in markdown


def test_a_dead_url_among_them_is_named_masked_and_the_others_are_still_reported(
    make_project: MakeProject, pg_url: str, live_db: LiveDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("clean_everything")
    clean, drifted = live_db(), live_db()
    for url in (clean, drifted):
        deploy(project, url)
    sql(drifted, "ALTER TABLE customers ADD COLUMN hotfix_flag boolean")
    dead = "postgresql://app:dead-secret-pw@127.0.0.1:1/production"  # nothing listens on port 1
    urls = tmp_path / "databases.txt"
    urls.write_text(f"# production shards\n{drifted}\n\n{dead}\n{clean}\n")

    code, data, output = detect(
        project, pg_url, tmp_path, capsys, "--database-urls-file", str(urls), "--connect-timeout", "3"
    )

    assert code == 4, output  # the worst: one could not be reached (DESIGN.md: infrastructure)
    assert [s[1:] for s in statuses(data)] == [(None, "drift", 1), (None, "error", 4), (None, "clean", 0)]
    assert [s[0] for s in statuses(data)] == [mask_url(drifted), mask_url(dead), mask_url(clean)]
    error = data["databases"][1]["report"]["error"]
    assert error["stage"] == "live" and f"cannot connect to the live database {mask_url(dead)}" in error["message"]
    assert ("column_extra", "public.customers.hotfix_flag", "changed_outside_migrations") in findings(
        data["databases"][0]
    )
    assert "dead-secret-pw" not in output
    assert f"driftbot: cannot connect to the live database {mask_url(dead)}" in output  # stderr, by name


def test_fix_and_github_issue_take_one_database(
    make_project: MakeProject, pg_url: str, live_db: LiveDb, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("clean_everything")
    first, second = live_db(), live_db()

    code = main(
        [
            "detect",
            str(project),
            "--scratch-database-url",
            pg_url,
            "--database-url",
            first,
            "--database-url",
            second,
            "--fix",
        ]
    )

    assert code == 2
    assert "--fix takes one live database" in capsys.readouterr().err


def tenant_database(project: Path, url: str, tenants: list[str]) -> None:
    """One database, a schema per tenant: each migrated by Alembic (in public, then moved)."""
    for tenant in tenants:
        deploy(project, url)
        sql(url, f'ALTER SCHEMA public RENAME TO "{tenant}"', "CREATE SCHEMA public")


def test_schema_per_tenant_compares_each_matching_schema_with_the_migrations(
    make_project: MakeProject,
    pg_url: str,
    live_db: LiveDb,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scratch_builds: list[int],
) -> None:
    project = make_project("clean_everything")  # enums, identity, checks, FKs, partial and expression indexes
    url = live_db()
    tenant_database(project, url, ["tenant_a", "tenant_b", "archive"])
    sql(
        url,
        "CREATE INDEX hotfix_orders_status ON tenant_b.orders (status)",
        "ALTER TABLE tenant_b.customers ALTER COLUMN email TYPE varchar(320)",
        "CREATE TABLE public.unrelated (id int)",
    )  # not a tenant: not compared

    code, data, output = detect(project, pg_url, tmp_path, capsys, "--database-url", url, "--schemas", "tenant_*")

    assert code == 1, output
    assert statuses(data) == [(mask_url(url), "tenant_a", "clean", 0), (mask_url(url), "tenant_b", "drift", 1)]
    assert findings(data["databases"][1]) == {
        ("index_extra", "tenant_b.orders.hotfix_orders_status", "changed_outside_migrations"),
        ("column_type_changed", "tenant_b.customers.email", "changed_outside_migrations"),
    }
    live = data["databases"][1]["report"]["live"]
    assert (live["schema"], live["version_table"], live["state"]) == (
        "tenant_b",
        "tenant_b.alembic_version",
        "up_to_date",
    )
    assert scratch_builds == [1]


def test_a_pattern_matching_no_schema_is_a_usage_error_for_that_database(
    make_project: MakeProject, pg_url: str, live_db: LiveDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project("clean_everything")
    url = live_db()
    deploy(project, url)

    code, data, _ = detect(project, pg_url, tmp_path, capsys, "--database-url", url, "--schemas", "tenant_*")

    assert code == 2
    [entry] = data["databases"]
    assert "matches no schema" in entry["report"]["error"]["message"]


def test_project_code_never_sees_any_of_the_live_urls(
    make_project: MakeProject,
    pg_url: str,
    live_db: LiveDb,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = make_project("clean_everything")
    first, second = live_db(), live_db()
    for url in (first, second):
        deploy(project, url)
    dumps = tmp_path / "env-dumps"
    dumps.mkdir()
    # env.py (run for the migrations, and again in the models' own process) writes down its environment
    env_py = project / "migrations" / "env.py"
    env_py.write_text(
        "import json as _json, os as _os, uuid as _uuid\n"
        f"(__import__('pathlib').Path({str(dumps)!r}) / f'{{_uuid.uuid4()}}.json')"
        ".write_text(_json.dumps(dict(_os.environ)))\n" + env_py.read_text()
    )
    monkeypatch.setenv("APP_DATABASE_URL", first)  # where a deployed application keeps them
    monkeypatch.setenv("REPLICA_URL", second)

    code, data, output = detect(project, pg_url, tmp_path, capsys, "--database-url", first, "--database-url", second)

    assert code == 0, output
    assert [s[2] for s in statuses(data)] == ["clean", "clean"]
    seen = [json.loads(p.read_text()) for p in dumps.iterdir()]
    assert len(seen) >= 2  # the migrations' run and the models' process
    for environ in seen:
        assert not [name for name, value in environ.items() if first in value or second in value]
        for name in ("APP_DATABASE_URL", "REPLICA_URL"):  # a placeholder, which cannot reach them
            placeholder = make_url(environ[name])
            assert (placeholder.host, placeholder.password) == (HIDDEN_HOST, None), environ[name]
