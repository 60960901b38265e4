"""The PR comment and the job summary, rendered from report files and compared with golden files.

Beyond the snapshots: every comment fits GitHub's limit and carries exactly one marker, at
the end; hostile names cannot inject Markdown, HTML, comments or mentions; the migration
the commit command copies out of the comment is byte for byte the report's; an oversized
report falls back to the compact comment, a huger one to the minimal.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path

import pytest

from driftbot.action.worker import read_report
from driftbot.compare.findings import Finding
from driftbot.github.commands import extract_migration, is_ticked
from driftbot.github.comments import find_markers, marker, unfenced_lines
from driftbot.report.comment import COMMENT_BUDGET, COMMENT_LIMIT, CommentContext, render_comment, render_summary
from driftbot.report.model import Report
from driftbot.safety.escape import ZWSP

GOLDEN = Path(__file__).parent
SCENARIOS = sorted(d.name for d in GOLDEN.iterdir() if (d / "report.json").is_file())
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
DEFAULTS = {
    "repository": "octo/shop",
    "head_sha": HEAD,
    "branch": "add-nickname",
    "project_path": "backend",
    "run_url": "https://github.com/octo/shop/actions/runs/30433642",
}
MARKER = marker("default", HEAD)


def scenario(name: str) -> tuple[Report, CommentContext]:
    directory = GOLDEN / name
    context = json.loads((directory / "context.json").read_text()) if (directory / "context.json").is_file() else {}
    return read_report(directory / "report.json"), CommentContext(**(DEFAULTS | context))


def check_golden(path: Path, rendered: str, update: bool) -> None:
    if update or not path.exists():
        path.write_text(rendered, encoding="utf-8")
        if not update:
            pytest.fail(f"{path} did not exist: written now, review it and run again")
    expected = path.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), rendered.splitlines(True), str(path), "rendered", n=2)
        )
        pytest.fail(f"{path.name} differs from the golden file (pytest tests/golden --update-golden):\n{diff[:6000]}")


@pytest.mark.parametrize("name", SCENARIOS)
def test_rendering_matches_the_golden_files(name: str, update_golden: bool) -> None:
    report, ctx = scenario(name)
    check_golden(GOLDEN / name / "comment.md", render_comment(report, ctx, MARKER), update_golden)
    check_golden(GOLDEN / name / "summary.md", render_summary(report, ctx), update_golden)


@pytest.mark.parametrize("name", SCENARIOS)
def test_comment_fits_and_ends_with_its_one_marker(name: str) -> None:
    report, ctx = scenario(name)
    body = render_comment(report, ctx, MARKER)
    assert len(body) <= COMMENT_LIMIT
    assert body.rstrip().endswith(MARKER)
    assert [(m.id, m.sha) for m in find_markers(body)] == [("default", HEAD)]
    summary = render_summary(report, ctx)
    assert "driftbot:comment" not in summary.replace("driftbot:comment v1 id=default sha=0000", "")  # no marker
    assert not is_ticked(body)


def outside_code(body: str) -> str:
    """The body without fenced blocks and inline code spans: where Markdown and HTML would render."""
    text = "\n".join(unfenced_lines(body))
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text)


def test_hostile_names_render_as_text() -> None:
    report, ctx = scenario("hostile_names")
    body = render_comment(report, ctx, MARKER)
    rendered = outside_code(body)
    for raw in ("<script", "<img", "<b>", "[click](", "**now**"):  # unescaped: `\<` renders as text
        assert not re.search(r"(?<!\\)" + re.escape(raw), rendered), f"{raw} would render"
    assert not re.search(rf"@(?!{ZWSP})[\w-]", rendered.replace("`/driftbot commit`", "")), "an @mention survived"
    assert "<!-- driftbot:comment" not in rendered.replace(MARKER, "")  # the forged marker is defused
    assert "\x1b" not in body
    # every table row keeps its five cells: no `|` from a name splits one
    for line in body.splitlines():
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line
    # the commit command copies exactly the report's migration, ``` runs and forged marker included
    carried = extract_migration(body)
    assert report.suggestion is not None and carried is not None
    assert carried[1] == report.suggestion.content
    assert "Commit this migration to ``feat/<b>x</b>|`" in body


def test_oversized_report_falls_back_to_the_compact_comment() -> None:
    report, ctx = scenario("oversized")
    assert report.suggestion is not None
    body = render_comment(report, ctx, MARKER)
    assert len(body) <= COMMENT_BUDGET
    assert "does not fit in this comment" in body and "job summary" in body
    assert extract_migration(body) is None and "Commit this migration" not in body  # nothing to commit from here
    assert report.suggestion.content in render_summary(report, ctx)  # the summary has it all
    assert all(f.object in body for f in report.findings)  # a line per finding


def test_a_huge_report_falls_back_to_the_minimal_comment() -> None:
    report, ctx = scenario("drift")
    finding = report.findings[0]
    many = tuple(dataclasses.replace(finding, object=f"public.t{i}.{'c' * 300}_{i}") for i in range(600))
    huge = dataclasses.replace(
        report, findings=many, error=None, suggestion=dataclasses.replace(report.suggestion, content="x = 1\n" * 20_000)
    )  # type: ignore[arg-type]
    body = render_comment(huge, ctx, MARKER)
    assert len(body) <= COMMENT_BUDGET
    assert "600 drift findings" in body and "job summary" in body
    assert body.rstrip().endswith(MARKER)


def test_fixed_drift_says_so_and_a_first_clean_run_does_not() -> None:
    report, ctx = scenario("fixed")
    assert "drift fixed" in render_comment(report, ctx, MARKER)
    assert "drift fixed" not in render_comment(report, dataclasses.replace(ctx, previously_reported=False), MARKER)


def test_fork_gets_the_prefilled_link_instead_of_the_checkbox() -> None:
    report, ctx = scenario("fork")
    body = render_comment(report, ctx, MARKER)
    assert "Commit this migration to" not in body
    assert "https://github.com/mallory/shop/new/add-nickname/backend/migrations/versions?filename=" in body
    assert extract_migration(body) is not None  # `/driftbot commit` still answers with the manual steps


def test_info_findings_never_make_drift() -> None:
    report, ctx = scenario("clean")
    assert report.status == "clean" and report.findings and not report.drift
    assert all(isinstance(f, Finding) and f.severity == "info" for f in report.findings)
    assert "not drift" in render_summary(report, ctx)


def test_giant_untrusted_strings_still_fit() -> None:
    """A hostile artifact (publish mode) with huge strings everywhere cannot make the comment unpostable."""
    report, ctx = scenario("failed_migration")
    big = "`|<@x>" * 40_000
    assert report.error is not None and report.postgres is not None
    hostile = dataclasses.replace(
        report,
        driftbot_version=big,
        timings={big: 1.0, "total": 2.0},
        postgres=dataclasses.replace(report.postgres, version="15" + big),
        error=dataclasses.replace(report.error, stage=big, message=big, hint=big),
    )
    for variant_of in (
        hostile,
        dataclasses.replace(
            hostile,
            error=None,
            status="drift",
            findings=(Finding("column_missing", big, "high", big, big, detail=big),) * 50,
        ),
    ):
        body = render_comment(variant_of, ctx, MARKER)
        assert len(body) <= COMMENT_LIMIT
        assert [m.sha for m in find_markers(body)] == [HEAD]
