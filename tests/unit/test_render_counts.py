"""The CLI's text and Markdown reports count the review's findings (of the PR's own revisions) apart from drift."""

from __future__ import annotations

from driftbot.compare.findings import Finding
from driftbot.report.model import Report, outcome
from driftbot.report.render import render

DRIFT = Finding(
    "column_missing",
    "public.users.name",
    "high",
    None,
    "text",
    object_type="column",
    schema="public",
    table="users",
    name="name",
)
NOTE = Finding(
    "default_equivalent",
    "public.users.flag",
    "info",
    "false",
    "'f'::boolean",
    object_type="column",
    schema="public",
    table="users",
    name="flag",
)
RESIDUE = Finding(
    "downgrade_residue",
    "public.label_kind",
    "high",
    None,
    "ENUM ('bug')",
    detail="revision 0002: enum public.label_kind is left behind",
    object_type="migrations",
)
FAILED = Finding(
    "downgrade_failed",
    "revision 0003",
    "high",
    None,
    None,
    detail="revision 0003: downgrading it fails",
    object_type="migrations",
    name="0003",
)


def report(*findings: Finding) -> Report:
    status, code = outcome(findings, None)
    return Report(status, code, None, None, None, findings)


def test_drift_and_review_findings_are_counted_apart() -> None:
    r = report(DRIFT, RESIDUE, FAILED, NOTE)
    assert "DRIFT: 1 drift finding, 2 review findings, 1 note in 3 object(s)." in render(r, "text")
    assert "### driftbot: 1 drift finding, 2 review findings, 1 note\n" in render(r, "markdown")


def test_review_findings_alone_are_no_drift_finding() -> None:
    r = report(RESIDUE)
    assert r.status == "drift" and r.exit_code == 1  # still failing the check
    text = render(r, "text")
    assert (
        "REVIEW FAILED: the migrations build what the models declare, but the review of the pull "
        "request's own revisions fails: 1 review finding."
    ) in text
    assert "drift finding" not in text
    markdown = render(r, "markdown")
    assert "### driftbot: the review of this pull request's revisions fails: 1 review finding\n" in markdown
    assert "drift finding" not in markdown


def test_drift_alone_reads_as_before() -> None:
    r = report(DRIFT, DRIFT, NOTE)
    assert "DRIFT: 2 drift findings, 1 note in 1 object(s)." in render(r, "text")
    assert "review finding" not in render(r, "text") + render(r, "markdown")
