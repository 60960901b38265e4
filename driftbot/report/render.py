"""Render a Report: terminal text, Markdown, JSON. Jinja2 templates live in templates/.

`render` is a check's report (check, revision, sync); `render_live` a detect/status report, one
database or several (the scheduled GitHub issue takes its Markdown).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from driftbot.compare.findings import Classification, Finding
from driftbot.compare.kinds import REVIEW_KINDS
from driftbot.report.model import Report, to_json
from driftbot.safety import escape

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json")

# report order, and how each class is introduced
CLASSES: tuple[tuple[Classification | None, str, str], ...] = (
    (
        "pending_migration",
        "Pending migrations",
        "the migrations have it, the live database does not yet: `alembic upgrade heads` applies it",
    ),
    (
        "changed_outside_migrations",
        "Changed outside migrations",
        "the live database differs from what the migrations build at its recorded revision",
    ),
    (
        "models_ahead_of_migrations",
        "Models ahead of migrations",
        "the models and the migrations differ, as `driftbot check` reports",
    ),
    (None, "Project", "the project could not be checked as it is"),
)

CHANGE_WORDS = {
    "missing": "only in the models (no migration creates it)",
    "extra": "only in the migrations (the models don't declare it)",
}


def relpath(path: str, root: str | None) -> str:
    if not path or not root:
        return path
    try:
        return os.path.relpath(path, root) if Path(path).is_relative_to(root) else path
    except ValueError:
        return path


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("driftbot.report", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        md=escape.md,
        code=escape.code,
        fence=escape.fence,
        html=escape.html_text,
        clean=escape.strip_control,
        relpath=relpath,
        indent_lines=_indent_lines,
        table_code=escape.table_code,
        fence_exact=escape.fence_exact,
    )
    return env


def _indent_lines(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in str(text).splitlines())


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return to_json(report)
    template = environment().get_template("report.txt.j2" if fmt == "text" else "report.md.j2")
    root = report.project.root if report.project else None
    # the review's findings (of the PR's own revisions) are not schema drift: counted apart, as the comment does
    review = sum(f.kind in REVIEW_KINDS for f in report.drift)
    return template.render(
        report=report,
        groups=report.findings_by_table(),
        root=root,
        change_words=CHANGE_WORDS,
        review=review,
        schema_drift=len(report.drift) - review,
    )


def groups(report: Report) -> list[tuple[str, str, list[Finding]]]:
    """Findings by classification, in report order: (title, explanation, findings)."""
    found = []
    for classification, title, explanation in CLASSES:
        members = [f for f in report.findings if f.classification == classification]
        if members:
            found.append((title, explanation, members))
    return found


def render_live(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return to_json(report)
    if report.databases:
        return _render_many(report, fmt)
    template = environment().get_template("detect.txt.j2" if fmt == "text" else "detect.md.j2")
    root = report.project.root if report.project else None
    counts = {c: sum(1 for f in report.drift if f.classification == c) for c, _, _ in CLASSES}
    return template.render(
        report=report,
        live=report.live,
        groups=groups(report),
        root=root,
        counts=counts,
        outside=counts["changed_outside_migrations"],
        relpath=relpath,
    )


def database_summary(report: Report) -> str:
    """One line for one database of several: its drift by class, or why it could not be checked."""
    if report.error is not None:
        return report.error.message.splitlines()[0]
    if not report.drift:
        return "in line"
    counts = [(sum(1 for f in report.drift if f.classification == c), title.lower()) for c, title, _ in CLASSES]
    return f"{len(report.drift)} finding(s): " + ", ".join(f"{n} {title}" for n, title in counts if n)


def _render_many(report: Report, fmt: Format) -> str:
    """The summary of several databases, then each one's own report."""
    template = environment().get_template("detect_many.txt.j2" if fmt == "text" else "detect_many.md.j2")
    rows = [(d, database_summary(d.report), render_live(d.report, fmt)) for d in report.databases]
    return template.render(report=report, rows=rows)
