"""`driftbot check --since`: the PR's own revisions, rolled back (a stairway) and measured on a real server.

Each fixture project (tests/fixtures/projects/review_*) has one base revision 0001 and the PR's
revisions after it; each test asserts the exact finding or hazard the scenario is named after.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from driftbot.errors import EXIT_DRIFT, EXIT_USAGE
from driftbot.report.model import Report, ReviewedRevision, from_dict, to_json
from driftbot.report.render import render
from driftbot.runs.check import run_check
from driftbot.runs.review import FETCH_HINT, downgrade_is_empty
from driftbot.settings import Settings

SCHEMA = json.loads((Path(__file__).parents[2] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())

Check = Callable[..., Report]


def reviewed(report: Report, revision: str) -> ReviewedRevision:
    assert report.error is None, report.error
    assert report.review is not None and report.review.error is None, report.review
    return next(r for r in report.review.revisions if r.revision == revision)


def kinds(r: ReviewedRevision) -> list[str]:
    return [h.kind for h in r.hazards]


def valid_json(report: Report) -> None:
    data = json.loads(render(report, "json"))
    jsonschema.validate(data, SCHEMA)
    assert json.loads(to_json(from_dict(data))) == data


def test_a_downgrade_that_leaves_an_enum_type_behind(check_fixture: Check) -> None:
    report = check_fixture("review_enum_residue", since="0001", suggest=False)
    r = reviewed(report, "0002")
    assert not r.downgrade.passed and r.downgrade.error is None
    assert [(f.kind, f.object, f.migrations, f.models) for f in r.downgrade.residue] == [
        ("enum_missing", "public.label_kind", None, "ENUM ('bug', 'feature')")
    ]
    assert r.downgrade.upgrade_again and 'type "label_kind" already exists' in r.downgrade.upgrade_again
    [finding] = [f for f in report.findings if f.kind == "downgrade_residue"]
    assert finding.object == "public.label_kind" and finding.severity == "high"
    assert "revision 0002 (migrations/versions/0002_labels.py)" in finding.detail
    assert "enum public.label_kind is left behind" in finding.detail
    assert "after the downgrade: ENUM ('bug', 'feature')" in finding.detail
    assert report.status == "drift" and report.exit_code == EXIT_DRIFT
    valid_json(report)


def test_a_downgrade_that_fails(check_fixture: Check) -> None:
    report = check_fixture("review_downgrade_fails", since="0001", suggest=False)
    r = reviewed(report, "0002")
    assert not r.downgrade.passed and not r.downgrade.residue
    assert r.downgrade.error and 'column "prio" of relation "tickets" does not exist' in r.downgrade.error
    [finding] = report.findings
    assert finding.kind == "downgrade_failed" and finding.object == "revision 0002"
    assert (
        "revision 0002 (migrations/versions/0002_priority.py): downgrading it fails: UndefinedColumn" in finding.detail
    )
    assert report.exit_code == EXIT_DRIFT


def test_a_pass_only_downgrade_is_said_so(check_fixture: Check) -> None:
    report = check_fixture("review_downgrade_pass", since="0001", suggest=False)
    r = reviewed(report, "0002")
    assert r.downgrade.empty and not r.downgrade.passed
    assert [(f.kind, f.object) for f in r.downgrade.residue] == [("index_missing", "public.tickets.ix_tickets_title")]
    [finding] = report.findings
    assert finding.kind == "downgrade_residue" and "downgrade() is empty (only `pass`)" in finding.detail


def test_a_type_change_that_rewrites_the_table(check_fixture: Check) -> None:
    report = check_fixture("review_type_rewrite", since="0001", suggest=False)
    bigint, text = reviewed(report, "0002"), reviewed(report, "0003")
    assert bigint.downgrade.passed and text.downgrade.passed
    assert bigint.rewrites == ("public.accounts",)
    assert [(lk.table, lk.mode) for lk in bigint.locks] == [("public.accounts", "AccessExclusiveLock")]
    [hazard] = bigint.hazards
    assert (hazard.kind, hazard.table) == ("table_rewrite", "public.accounts")
    assert "add a new column of the new type, backfill it in batches" in hazard.safer
    assert text.rewrites == () and text.hazards == ()  # varchar(50) -> text: a catalog change only
    assert bigint.seconds > 0 and bigint.sample_rows == 3
    assert report.status == "clean" and not report.findings  # hazards do not fail by default


def test_fail_on_hazard_makes_hazards_fail(check_fixture: Check) -> None:
    report = check_fixture("review_type_rewrite", since="0001", suggest=False, fail_on="hazard")
    [finding] = report.findings
    assert finding.kind == "migration_hazard" and finding.object == "public.accounts"
    assert finding.detail.startswith("revision 0002 (migrations/versions/0002_bigger.py): table_rewrite:")
    assert report.exit_code == EXIT_DRIFT


def test_an_index_built_without_concurrently(check_fixture: Check) -> None:
    report = check_fixture("review_index_not_concurrent", since="0001", suggest=False)
    plain, concurrent = reviewed(report, "0002"), reviewed(report, "0003")
    [hazard] = plain.hazards
    assert (hazard.kind, hazard.table) == ("index_without_concurrently", "public.orders")
    assert "CREATE INDEX ix_orders_customer" in hazard.message
    assert "postgresql_concurrently=True" in hazard.safer and "autocommit_block" in hazard.safer
    assert [(lk.table, lk.mode) for lk in plain.locks] == [("public.orders", "ShareLock")]
    assert concurrent.hazards == () and concurrent.downgrade.passed
    assert not report.findings
    valid_json(report)


def test_a_not_null_column_added_to_a_table_with_rows(check_fixture: Check) -> None:
    report = check_fixture("review_not_null_rows", since="0001", suggest=False)
    email, name = reviewed(report, "0002"), reviewed(report, "0003")
    assert email.downgrade.passed  # on the empty database it works both ways
    assert email.impact_error and 'column "email" of relation "users" contains null values' in email.impact_error
    [hazard] = email.hazards
    assert (hazard.kind, hazard.table) == ("fails_on_existing_rows", "public.users")
    assert "server_default" in hazard.safer
    assert kinds(name) == ["not_null_validated", "constraint_validated"]
    assert all(h.table == "public.users" for h in name.hazards)
    assert "NOT VALID" in name.hazards[1].safer and "VALIDATE CONSTRAINT" in name.hazards[1].safer
    assert [(lk.table, lk.mode) for lk in name.locks] == [("public.users", "AccessExclusiveLock")]


def test_a_data_migration_and_what_its_downgrade_loses(check_fixture: Check) -> None:
    report = check_fixture("review_data_migration", since="0001", suggest=False)
    r = reviewed(report, "0002")
    assert r.downgrade.passed  # the schema comes back exactly ...
    assert r.data is not None  # ... the rows do not
    assert r.data.statements == (
        "INSERT INTO public.archived_products (2 rows)",
        "DELETE FROM public.products (2 rows)",
    )
    products = next(t for t in r.data.tables if t.table == "public.products")
    assert (products.before, products.after_upgrade, products.after_downgrade, products.restored) == (3, 1, 1, False)
    assert r.data.loss == "public.products: 3 rows before, 1 after the downgrade (2 lost)"
    assert kinds(r) == ["data_loss_on_downgrade"]
    valid_json(report)


def test_sample_data_file(check_fixture: Check, tmp_path: Path) -> None:
    rows = tmp_path / "rows.sql"
    rows.write_text("INSERT INTO products (name, discontinued) SELECT 'p' || i, i <= 4 FROM generate_series(1, 10) i;")
    report = check_fixture("review_data_migration", since="0001", suggest=False, sample_data=rows)
    r = reviewed(report, "0002")
    assert r.sample_rows == 10 and report.review is not None and report.review.sample_data == str(rows)
    assert r.data is not None and r.data.loss == "public.products: 10 rows before, 6 after the downgrade (4 lost)"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True, capture_output=True
    )


def test_since_a_git_ref_reviews_the_revision_files_changed_since_it(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings]
) -> None:
    project = make_project("review_type_rewrite")
    later = sorted((project / "migrations" / "versions").glob("000[23]_*.py"))
    moved = {p: p.read_text() for p in later}
    for p in later:
        p.unlink()
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "base")
    _git(project, "checkout", "-q", "-b", "pr")
    for p, body in moved.items():
        p.write_text(body)
    _git(project, "add", str(later[0]))
    _git(project, "commit", "-q", "-m", "0002")  # 0003 stays uncommitted (untracked): a local run sees it too
    report = run_check(url_settings(project, since="main", suggest=False))
    assert report.review is not None and report.review.mode == "ref"
    assert [r.revision for r in report.review.revisions] == ["0002", "0003"]
    report = run_check(url_settings(project, since="no-such-branch", suggest=False))
    assert report.exit_code == EXIT_USAGE and report.error is not None
    assert "neither a revision of the project nor a commit in this clone" in report.error.message
    assert report.error.hint == FETCH_HINT and "fetch-depth: 0" in FETCH_HINT


def test_since_the_last_revision_reviews_nothing(check_fixture: Check) -> None:
    report = check_fixture("review_type_rewrite", since="0003", suggest=False)
    assert report.review is not None and report.review.revisions == ()
    assert report.review.note == "no revision comes after 0003"


def test_the_review_in_text_and_markdown(check_fixture: Check) -> None:
    report = check_fixture("review_enum_residue", since="0001", suggest=False)
    text = render(report, "text")
    assert "review: 1 revision(s) after 0001: each upgraded, downgraded and upgraded again on a copy" in text
    assert "0002  downgrade FAILED: 1 difference(s) after upgrade + downgrade" in text
    markdown = render(report, "markdown")
    assert "### Review of this pull request's revisions" in markdown
    clean = check_fixture("review_index_not_concurrent", since="0002", suggest=False)
    md = render(clean, "markdown")
    assert "- ✅ `0003` `migrations/versions/0003_placed_index.py`: rollback proven · " in md


@pytest.mark.parametrize(
    "body,empty", [("pass", True), ('"""nothing"""\n    pass', True), ("...", True), ("op.drop_table('t')", False)]
)
def test_downgrade_is_empty(tmp_path: Path, body: str, empty: bool) -> None:
    f = tmp_path / "r.py"
    f.write_text(f"def upgrade():\n    pass\n\n\ndef downgrade():\n    {body}\n")
    assert downgrade_is_empty(str(f)) is empty
