"""`driftbot detect --github-issue`: one GitHub issue per scheduled production check.

Opened when the live database drifts, updated while it stays drifted, closed when it is back
in line; found again by a hidden marker (driftbot.github.issues). A check that could not run
(exit 3 or 4) leaves the issue alone: nothing is known about the drift then.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT
from driftbot.github.client import make_github
from driftbot.github.issues import publish_issue
from driftbot.report.model import Report
from driftbot.report.render import render_live
from driftbot.safety import escape

BODY_BUDGET = 60_000  # GitHub allows 65,536 characters; the marker and a margin fit in the rest


@dataclass(frozen=True)
class IssueTarget:
    repo: str  # owner/name
    token: str
    api_url: str = "https://api.github.com"
    issue_id: str = "production"
    run_url: str | None = None  # where the full report is (the workflow run)

    def __repr__(self) -> str:
        return f"IssueTarget(repo={self.repo!r}, token='***', issue_id={self.issue_id!r})"


def issue_title(report: Report) -> str:
    return f"driftbot: production schema drift ({len(report.drift)} finding(s))"


def issue_body(report: Report, run_url: str | None = None) -> str:
    """The Markdown report; a long one is cut to one line per finding, with a pointer to the rest."""
    full = render_live(report, "markdown")
    where = f" in the [workflow run]({run_url})" if run_url else " in the job's report (`--format json --output`)"
    if len(full) <= BODY_BUDGET:
        return full + (f"\n<sub>[workflow run]({run_url})</sub>\n" if run_url else "")
    lines = [
        f"### driftbot: {len(report.drift)} drift finding(s) in the live database",
        "",
        f"The full report is too long for an issue: it is{where}.",
        "",
    ]
    for finding in report.drift:
        line = f"- {escape.code(finding.object)} {escape.md(finding.kind)}"
        if sum(len(x) + 1 for x in lines) + len(line) > BODY_BUDGET - 200:
            lines.append(f"- ... and more{where}")
            break
        lines.append(line)
    return "\n".join(lines) + "\n"


def publish_detect_issue(report: Report, target: IssueTarget) -> str:
    """Open, update or close the issue for `report`; a one-line account of what was done."""
    if report.exit_code not in (EXIT_CLEAN, EXIT_DRIFT):
        return "the check did not run to the end: the drift issue was left as it is"
    gh = make_github(target.token, target.api_url)
    drifted = report.exit_code == EXIT_DRIFT
    number = publish_issue(
        gh, target.repo, issue_title(report), issue_body(report, target.run_url) if drifted else None, target.issue_id
    )
    if number is None:
        return "no drift: the drift issue is closed (if there was one)"
    return f"drift: issue #{number} in {target.repo} is open and up to date"
