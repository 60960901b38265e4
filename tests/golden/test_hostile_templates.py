"""Every Markdown template with hostile text in every untrusted field: nothing renders as markup.

The PR comment and summary (comment.md.j2, summary.md.j2), `driftbot check --format markdown`
(report.md.j2) and the drift issue of `detect --github-issue` (detect.md.j2). Names, error text,
paths and versions come from the project (a PR's code, a fork's report artifact, a live
database): an image beacon, raw HTML, an @mention spelled as an entity, a comment delimiter
or a `|` must show as text wherever they land.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.action.worker import read_report
from driftbot.compare.findings import Finding, SourceLocation
from driftbot.github.comments import unfenced_lines
from driftbot.report.comment import CommentContext, render_comment, render_summary
from driftbot.report.model import ErrorInfo, LiveInfo, PendingRevision, Report
from driftbot.report.render import render, render_live
from driftbot.safety.escape import ZWSP
from driftbot.suggest.generate import Check

GOLDEN = Path(__file__).parent
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
HOSTILE = "![x](https://e.invalid/b.png) <img src=x> @org/team &commat;org &#64;org -->"
CELL = "pub|lic" + HOSTILE  # a `|` too, for table cells


def hostile_report() -> Report:
    report = read_report(GOLDEN / "hostile_names" / "report.json")
    s = report.suggestion
    assert s is not None and report.postgres is not None
    finding = Finding(
        "column_missing",
        CELL,
        "high",
        CELL,
        CELL,
        detail=HOSTILE,
        object_type="column",
        schema="public",
        table=CELL,
        name=HOSTILE,
        source=SourceLocation(f"/github/workspace/backend/{HOSTILE}.py", 3, HOSTILE),
        classification="changed_outside_migrations",
        live=CELL,
    )
    pending = dataclasses.replace(finding, kind="revisions_pending", classification="pending_migration")
    live = LiveInfo(
        HOSTILE,
        HOSTILE,
        HOSTILE,
        (HOSTILE,),
        (HOSTILE,),
        "behind",
        (PendingRevision(HOSTILE, HOSTILE, f"/github/workspace/backend/{HOSTILE}.py"),),
        (HOSTILE,),
        True,
        0.1,
        5.0,
        1.0,
        fix_error=HOSTILE,
    )
    suggestion = dataclasses.replace(
        s,
        checks=(Check(HOSTILE, False, HOSTILE),),
        remaining=(finding,),
        hazards=tuple(dataclasses.replace(h, object=HOSTILE, message=HOSTILE) for h in s.hazards),
        path=f"/github/workspace/backend/migrations/versions/{HOSTILE}.py",
    )
    return dataclasses.replace(
        report,
        findings=(finding, pending),
        suggestion=suggestion,
        live=live,
        driftbot_version=HOSTILE,
        postgres=dataclasses.replace(report.postgres, version=HOSTILE),
        timings={HOSTILE: 1.0, "total": 2.0},
        error=ErrorInfo(HOSTILE, HOSTILE, HOSTILE),
    )


CTX = CommentContext(
    repository="octo/shop",
    head_sha=HEAD,
    branch=HOSTILE,
    project_path="backend",
    run_url="https://github.com/octo/shop/actions/runs/1",
)
RENDERERS: dict[str, Callable[[Report], str]] = {
    "comment.md.j2": lambda r: render_comment(r, CTX, MARKER),
    "summary.md.j2": lambda r: render_summary(r, CTX),
    "report.md.j2": lambda r: render(r, "markdown"),
    "detect.md.j2": lambda r: render_live(r, "markdown"),
}
VARIANTS = {
    "drift": lambda r: r,
    "error": lambda r: dataclasses.replace(r, status="error", suggestion=None),
    "no file": lambda r: dataclasses.replace(r, suggestion=dataclasses.replace(r.suggestion, error=HOSTILE)),
}


MARKER = f"<!-- driftbot:comment v1 id=default sha={HEAD} -->"


def shown(markdown: str) -> str:
    """Text outside code as GitHub shows it: code spans dropped, backslash escapes and entities resolved once.

    An escaped or entity-encoded character becomes "\\0" + it (it cannot start markup), except `@`:
    GitHub looks for mentions in the text after both are resolved.
    """
    text = re.sub(r"(`+)(?:(?!\1).)+?\1", "", "\n".join(unfenced_lines(markdown)))

    def literal(m: re.Match[str]) -> str:
        char = m[1] if m[1] is not None else html.unescape(m[0])
        return char if char == "@" else "\0" + char

    return re.sub(r"\\([!-/:-@\[-`{-~])|&(?:#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);", literal, text)


def cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("template", RENDERERS)
def test_hostile_text_renders_as_text(template: str, variant: str) -> None:
    body = RENDERERS[template](VARIANTS[variant](hostile_report()))
    assert "e.invalid" in body.replace("\\", "")  # shown, not dropped
    ours = re.compile(r"<!-- driftbot:file path=[A-Za-z0-9%._~/+-]+ sha256=[0-9a-f]{64} -->")  # url-quoted path
    text = shown(ours.sub("", body.replace(MARKER, "")))
    for markup in ("![", "<img", "-->", "<!--"):
        assert not re.search("(?<!\0)" + re.escape(markup), text), f"{markup!r} would render in {template}:\n{body}"
    assert not re.search(rf"@(?!{ZWSP})", text), f"an @mention would render in {template}:\n{body}"
    lines = body.splitlines()
    for i, line in enumerate(lines):  # no `|` from a name splits a table cell
        if line.startswith("|---"):
            width = cells(lines[i - 1])
            for row in lines[i + 1 :]:
                if not row.startswith("|"):
                    break
                assert cells(row) == width, f"{template}: {row}"
