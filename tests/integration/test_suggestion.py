"""The suggested migration: generated in the project's style, verified by driftbot, and proven with plain Alembic.

For every drift scenario of test_drift_scenarios.EXPECTED the suggestion must be verified
(upgrade, no drift, downgrade, downgrade restores the catalog, upgrade again) and, once
written into the project, plain `alembic upgrade head` + `alembic check` (subprocesses, on a
fresh database) must agree. Further fixtures (tests/fixtures/projects/suggest_*) cover the
project's own script.py.mako and file_template, post-write hooks, probable renames, a
narrowing type change and a suggestion that cannot be verified on the migrations' data.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jsonschema
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from driftbot.report.model import Report
from driftbot.report.render import render
from driftbot.runs.check import run_check
from driftbot.settings import Settings
from driftbot.suggest.generate import Suggestion

HERE = Path(__file__).resolve().parent
SCHEMA = json.loads((HERE.parents[1] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())


def _expected() -> dict[str, set[tuple[str, str]]]:
    """EXPECTED of test_drift_scenarios.py, loaded by path (works whatever pytest's import mode)."""
    spec = importlib.util.spec_from_file_location("_drift_scenarios_expected", HERE / "test_drift_scenarios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.EXPECTED)


EXPECTED = _expected()
DRIFT_SCENARIOS = sorted(s for s, expected in EXPECTED.items() if expected)
CHECKS = ["upgrade", "no_drift", "downgrade", "downgrade_restores", "upgrade_again"]

CheckFixture = Callable[..., Report]
MakeProject = Callable[[str], Path]
UrlSettings = Callable[..., Settings]


# ---------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Database:
    url: str  # SQLAlchemy URL, for alembic.ini
    conninfo: str  # libpq URI, for psycopg


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[Database]:
    """An empty database on the session's server, created and dropped here (not by driftbot)."""
    with plain_database(pg_url) as db:
        yield db


@contextmanager
def plain_database(pg_url: str) -> Iterator[Database]:
    admin = make_url(pg_url)
    admin_conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"plain_alembic_{secrets.token_hex(4)}"
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield Database(
            admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False),
            admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False),
        )
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def plain_alembic(project: Path, db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    """`alembic -c <copy of alembic.ini pointing at db> ARGS` in the project directory, as a subprocess.

    The copy sits next to alembic.ini so that `%(here)s` still means the project directory;
    the base env.py reads the URL from `sqlalchemy.url`.
    """
    text, count = re.subn(
        r"(?m)^sqlalchemy\.url\s*=.*$",
        lambda _: "sqlalchemy.url = " + db.url.replace("%", "%%"),
        (project / "alembic.ini").read_text(),
    )
    assert count == 1, "alembic.ini has no sqlalchemy.url line"
    ini = project / "alembic.plain-test.ini"
    ini.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def describe(s: Suggestion) -> str:
    """Everything needed to report a failing suggestion."""
    checks = "\n".join(f"  {c.name}: {'ok' if c.passed else 'FAILED'}: {c.detail}" for c in s.checks)
    remaining = "\n".join(f"  {f.kind} {f.object}: {f.migrations!r} -> {f.models!r}" for f in s.remaining)
    return f"error: {s.error}\nchecks:\n{checks}\nremaining:\n{remaining}\ncontent:\n{s.content}"


def section(content: str, function: str) -> str:
    """The body of `def upgrade()` or `def downgrade()` in a revision file."""
    match = re.search(rf"^def {function}\(\).*?(?=^def |\Z)", content, flags=re.S | re.M)
    assert match, f"no def {function}() in:\n{content}"
    return match.group(0)


def tree(root: Path) -> dict[str, str]:
    """Every file (content hash) and directory under root, __pycache__ ignored."""
    listing: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.relative_to(root).parts:
            continue
        key = str(path.relative_to(root))
        listing[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return listing


def alembic_slug(message: str, truncate: int = 40) -> str:
    """Alembic's %(slug)s (alembic/script/base.py, default truncate_slug_length)."""
    slug = "_".join(re.findall(r"\w+", message)).lower()
    return slug[:truncate].rsplit("_", 1)[0] + "_" if len(slug) > truncate else slug


def verified_suggestion(report: Report) -> Suggestion:
    s = report.suggestion
    assert s is not None, f"no suggestion; error: {report.error}"
    assert s.verified is True, describe(s)
    return s


def query(db: Database, statement: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        cur = conn.execute(statement, params or None)
        return list(cur.fetchall()) if cur.description else []


# ---------------------------------------------------------------------------- 1. every drift scenario

# non_default_schema is not held to plain `alembic check`: the base env.py calls
# context.configure() without include_schemas=True, so Alembic's autogenerate reflects only
# the default schema, does not find the models' billing.invoices in it, and proposes
# add_table(billing.invoices) on any database, even one built from the models. The test
# asserts exactly that complaint and then shows that the same database passes
# `alembic check` once env.py sets include_schemas=True.
ALEMBIC_CHECK_DEFAULT_SCHEMA_ONLY = {"non_default_schema": "billing"}


@pytest.mark.parametrize("scenario", DRIFT_SCENARIOS)
def test_suggestion_removes_the_drift_and_plain_alembic_agrees(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database, scenario: str
) -> None:
    project = make_project(scenario)
    versions = project / "migrations" / "versions"
    report = run_check(url_settings(project, write=True))

    s = report.suggestion
    assert s is not None, f"no suggestion; error: {report.error}"
    assert s.error is None, describe(s)
    assert [c.name for c in s.checks] == CHECKS, describe(s)
    assert all(c.passed for c in s.checks), describe(s)
    assert s.verified is True
    assert s.remaining == ()
    assert s.written is True
    written = Path(s.path)
    assert written.parent.resolve() == versions.resolve()
    assert written.read_text(encoding="utf-8") == s.content

    upgrade = plain_alembic(project, fresh_db, "upgrade", "head")
    assert upgrade.returncode == 0, output(upgrade)
    assert query(fresh_db, "SELECT version_num FROM alembic_version") == [(s.revision,)]

    check = plain_alembic(project, fresh_db, "check")
    schema = ALEMBIC_CHECK_DEFAULT_SCHEMA_ONLY.get(scenario)
    if schema is None:
        assert check.returncode == 0, output(check)
        return
    assert check.returncode != 0
    complaint = check.stdout + check.stderr
    assert "New upgrade operations detected: [('add_table'" in complaint and f"schema='{schema}'" in complaint, output(
        check
    )
    env_py = project / "migrations" / "env.py"
    configure = "context.configure(connection=connection, target_metadata=target_metadata)"
    assert configure in env_py.read_text()
    env_py.write_text(env_py.read_text().replace(configure, configure[:-1] + ", include_schemas=True)"))
    with_schemas = plain_alembic(project, fresh_db, "check")
    assert with_schemas.returncode == 0, output(with_schemas)


# ---------------------------------------------------------------------------- 2. determinism


def test_same_heads_and_drift_give_the_same_revision(
    make_project: MakeProject, url_settings: UrlSettings, tmp_path: Path
) -> None:
    project = make_project("column_missing")
    first = verified_suggestion(run_check(url_settings(project)))
    second = verified_suggestion(run_check(url_settings(project)))
    assert second.revision == first.revision
    assert second.filename == first.filename
    assert second.down_revision == first.down_revision == ("0001",)

    elsewhere = shutil.copytree(project, tmp_path / "another" / "checkout")  # e.g. another CI runner
    third = verified_suggestion(run_check(url_settings(elsewhere)))
    assert third.revision == first.revision


# ---------------------------------------------------------------------------- 3. no write, no change


@pytest.mark.parametrize(
    "scenario",
    [
        "column_missing",
        "suggest_custom_template",
        "suggest_post_write_hook",
        "suggest_column_rename",
        "suggest_not_null_on_existing_rows",
    ],
)
def test_project_tree_is_untouched_without_write(
    make_project: MakeProject, url_settings: UrlSettings, scenario: str
) -> None:
    project = make_project(scenario)
    before = tree(project)
    report = run_check(url_settings(project))
    assert report.suggestion is not None and report.suggestion.content
    assert report.suggestion.written is False
    assert not Path(report.suggestion.path).exists()
    assert tree(project) == before


# ---------------------------------------------------------------------------- 4. --write


@pytest.mark.parametrize("scenario", ["column_missing", "suggest_custom_template", "suggest_post_write_hook"])
def test_write_adds_exactly_the_suggestion_and_then_there_is_no_drift(
    make_project: MakeProject, url_settings: UrlSettings, scenario: str
) -> None:
    project = make_project(scenario)
    versions = project / "migrations" / "versions"
    before = tree(project)

    s = verified_suggestion(run_check(url_settings(project, write=True)))
    assert s.written is True
    after = tree(project)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else changed
    new = set(after) - set(before)
    assert new == {str((versions / s.filename).relative_to(project))}
    assert Path(s.path).resolve() == (versions / s.filename).resolve()
    assert (versions / s.filename).read_text(encoding="utf-8") == s.content

    again = run_check(url_settings(project, write=True))
    assert again.error is None
    assert (again.status, again.exit_code) == ("clean", 0), [(f.kind, f.object) for f in again.drift]
    assert again.suggestion is None
    assert again.project is not None and again.project.heads == (s.revision,)
    assert tree(project) == after


# ---------------------------------------------------------------------------- 5. the project's style


def test_suggestion_uses_the_projects_template_and_file_template(check_fixture: CheckFixture) -> None:
    day_before = date.today()
    report = check_fixture("suggest_custom_template")
    day_after = date.today()
    s = verified_suggestion(report)

    assert "# house style" in s.content
    slug = alembic_slug(s.message)
    assert slug.startswith("sync_schema_with_models")
    assert s.filename in {f"{day:%Y%m%d}_{s.revision}_{slug}.py" for day in (day_before, day_after)}, s.filename
    day = s.filename[:8]
    assert f"Create Date: {day[:4]}-{day[4:6]}-{day[6:]} " in s.content

    assert report.project is not None and report.project.heads == ("0002",)
    assert s.down_revision == ("0002",)
    assert "down_revision: Union[str, Sequence[str], None] = '0002'" in s.content
    assert f"revision: str = '{s.revision}'" in s.content


def test_default_file_template_is_rev_and_slug(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("column_missing"))
    assert s.filename == f"{s.revision}_{alembic_slug(s.message)}.py"


# ---------------------------------------------------------------------------- 6. post_write_hooks


def test_post_write_hooks_run_on_the_suggestion(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("suggest_post_write_hook"))
    marker = "# stamped by the suggest_post_write_hook post-write hook"
    assert s.content.count(marker) == 1
    assert s.content.rstrip().endswith(marker)


# ---------------------------------------------------------------------------- 7. renames


def test_probable_rename_is_a_rename_that_keeps_the_data(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    project = make_project("suggest_column_rename")
    s = verified_suggestion(run_check(url_settings(project, write=True)))
    assert s.remaining == ()
    assert s.written is True

    upgrade, downgrade = section(s.content, "upgrade"), section(s.content, "downgrade")
    assert "op.alter_column('users', 'fullname', new_column_name='display_name')" in upgrade, s.content
    assert "op.alter_column('users', 'display_name', new_column_name='fullname')" in downgrade, s.content
    assert "drop_column('users', 'fullname'" not in s.content
    assert "add_column" not in s.content and "drop_column" not in s.content

    renames = [h for h in s.hazards if h.kind == "probable_rename"]
    assert len(renames) == 1, s.hazards
    assert renames[0].object == "public.users.display_name"
    assert "op.drop_column('users', 'fullname')" in renames[0].message
    assert "add_column" in renames[0].message and "loses the column's data" in renames[0].message
    assert not [h for h in s.hazards if h.kind == "destructive"], s.hazards  # nothing is dropped

    # the data survives, with plain Alembic on a fresh database
    step = plain_alembic(project, fresh_db, "upgrade", "0001")
    assert step.returncode == 0, output(step)
    query(fresh_db, "INSERT INTO users (id, email, fullname) VALUES (1, 'ada@example.com', 'Ada Lovelace')")
    step = plain_alembic(project, fresh_db, "upgrade", "head")
    assert step.returncode == 0, output(step)
    assert query(fresh_db, "SELECT id, display_name FROM users") == [(1, "Ada Lovelace")]
    step = plain_alembic(project, fresh_db, "downgrade", "-1")
    assert step.returncode == 0, output(step)
    assert query(fresh_db, "SELECT id, fullname FROM users") == [(1, "Ada Lovelace")]


def test_probable_table_rename_keeps_the_rows(
    make_project: MakeProject, url_settings: UrlSettings, fresh_db: Database
) -> None:
    project = make_project("suggest_table_rename")  # clients in the migrations, customers in the models
    s = verified_suggestion(run_check(url_settings(project, write=True)))
    upgrade, downgrade = section(s.content, "upgrade"), section(s.content, "downgrade")
    assert upgrade.index("op.rename_table('clients', 'customers')") < upgrade.index("create_index"), s.content
    assert "op.rename_table('customers', 'clients')" in downgrade
    assert "drop_table" not in s.content and "create_table" not in s.content
    [rename] = [h for h in s.hazards if h.kind == "probable_rename"]
    assert rename.object == "public.customers" and "op.drop_table('clients')" in rename.message
    assert not [h for h in s.hazards if h.kind == "destructive"], s.hazards

    step = plain_alembic(project, fresh_db, "upgrade", "head")  # 0001 inserts Ada into clients
    assert step.returncode == 0, output(step)
    assert query(fresh_db, "SELECT email, name FROM customers") == [("ada@example.com", "Ada")]
    assert query(fresh_db, "SELECT nextval('customers_id_seq')") == [(2,)]  # the serial kept counting
    step = plain_alembic(project, fresh_db, "downgrade", "-1")
    assert step.returncode == 0, output(step)
    assert query(fresh_db, "SELECT email FROM clients") == [("ada@example.com",)]


# ---------------------------------------------------------------------------- 8. hazards


@pytest.mark.parametrize(
    ("scenario", "obj"), [("table_extra", "public.audit_log"), ("column_extra", "public.users.legacy_code")]
)
def test_dropping_what_only_the_migrations_have_is_destructive_and_models_behind(
    check_fixture: CheckFixture, scenario: str, obj: str
) -> None:
    s = verified_suggestion(check_fixture(scenario))
    kinds = {h.kind for h in s.hazards if h.object == obj}
    assert {"destructive", "models_behind"} <= kinds, s.hazards


def test_widening_a_varchar_is_not_destructive(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("type_varchar_length"))  # varchar(100) -> varchar(200)
    assert not [h for h in s.hazards if h.kind == "destructive"], s.hazards


def test_narrowing_a_varchar_is_destructive(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("suggest_narrowing"))  # varchar(200) -> varchar(50)
    assert "public.users.name" in {h.object for h in s.hazards if h.kind == "destructive"}, s.hazards


def test_enum_value_added_runs_outside_the_transaction(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("enum_value_added"))
    upgrade = section(s.content, "upgrade")
    assert "autocommit_block()" in upgrade, s.content
    assert "ADD VALUE" in upgrade, s.content
    assert upgrade.index("autocommit_block()") < upgrade.index("ADD VALUE")


def test_enum_values_reordered_warns_of_a_rewrite_under_lock(check_fixture: CheckFixture) -> None:
    s = verified_suggestion(check_fixture("enum_values_reordered"))
    assert "public.ticket_priority" in {h.object for h in s.hazards if h.kind == "rewrite_lock"}, s.hazards


# ---------------------------------------------------------------------------- 9. failure paths


def test_no_suggestion_when_the_migrations_fail(check_fixture: CheckFixture) -> None:
    report = check_fixture("migration_raises")
    assert report.suggestion is None
    assert report.status == "error" and report.error is not None
    assert "revision 0003" in report.error.message


def test_suggestion_that_fails_verification_is_reported_and_not_written(
    make_project: MakeProject, url_settings: UrlSettings
) -> None:
    project = make_project("suggest_not_null_on_existing_rows")
    before = tree(project)
    report = run_check(url_settings(project, write=True))

    assert (report.status, report.exit_code) == ("drift", 1)
    s = report.suggestion
    assert s is not None, report.error
    assert s.verified is False
    assert s.content.strip()
    assert "nullable=False" in section(s.content, "upgrade"), s.content
    first = s.checks[0]
    assert (first.name, first.passed) == ("upgrade", False), describe(s)
    assert "NotNullViolation" in first.detail and "contains null values" in first.detail, first.detail
    assert not any(c.passed for c in s.checks[1:]), describe(s)  # verification stops at the first failure
    assert s.written is False
    assert tree(project) == before


# ---------------------------------------------------------------------------- 10. JSON


@pytest.mark.parametrize("scenario", ["column_missing", "suggest_column_rename", "suggest_not_null_on_existing_rows"])
def test_json_report_with_a_suggestion_validates_against_the_schema(check_fixture: CheckFixture, scenario: str) -> None:
    report = check_fixture(scenario)
    assert report.suggestion is not None
    data = json.loads(render(report, "json"))
    jsonschema.validate(data, SCHEMA)

    suggestion = data["suggestion"]
    assert isinstance(suggestion, dict)
    assert suggestion["path"] == report.suggestion.path
    assert suggestion["content"] == report.suggestion.content and suggestion["content"]
    assert suggestion["revision"] == report.suggestion.revision
    assert suggestion["verified"] is report.suggestion.verified
    assert [c["name"] for c in suggestion["checks"]] == [c.name for c in report.suggestion.checks]
    assert all(isinstance(c["passed"], bool) and isinstance(c["detail"], str) for c in suggestion["checks"])
    assert suggestion["verified"] == (
        len(suggestion["checks"]) == len(CHECKS) and all(c["passed"] for c in suggestion["checks"])
    )
