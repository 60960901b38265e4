"""Render a Report: terminal text, Markdown, JSON. Jinja2 templates live in templates/."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from driftbot.report.model import Report, to_json
from driftbot.runs.review import REVIEW_KINDS
from driftbot.safety import escape

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json")

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
    env = Environment(loader=PackageLoader("driftbot.report", "templates"), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      autoescape=False)
    env.filters.update(md=escape.md, code=escape.code, fence=escape.fence, html=escape.html_text,
                       clean=escape.strip_control, relpath=relpath, indent_lines=_indent_lines,
                       table_code=escape.table_code, fence_exact=escape.fence_exact)
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
    return template.render(report=report, groups=report.findings_by_table(), root=root,
                           change_words=CHANGE_WORDS, review=review, schema_drift=len(report.drift) - review)
