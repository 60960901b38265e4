"""The PR comment and the job summary: a Report rendered through comment.md.j2 / summary.md.j2.

Everything that came from the PR (names, definitions, error text, paths, the branch) reaches
the templates as data and is escaped there by the filters of escape.py; the suggested
migration is shown byte for byte in a fence longer than any backtick run inside it, because
the commit command copies it from the comment.

GitHub refuses a comment over 65,536 characters: the full comment is rendered first; over
the budget, a compact one (a line per finding), then a minimal one (counts and a pointer to
the job summary, which always carries the full report).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import quote

from driftbot.compare.findings import Finding
from driftbot.compare.kinds import REVIEW_KINDS
from driftbot.errors import ConfigError
from driftbot.github.commands import build_file_block, commit_checkbox, create_file_link, safe_path
from driftbot.report.model import Report
from driftbot.report.render import environment, relpath
from driftbot.safety import escape

Variant = Literal["full", "compact", "minimal"]
VARIANTS: tuple[Variant, ...] = ("full", "compact", "minimal")
COMMENT_BUDGET = 65_000  # re-render smaller above this
COMMENT_LIMIT = 65_536  # GitHub's hard limit, in characters
SUMMARY_LIMIT = 1024 * 1024  # GitHub's limit for one step's summary, in bytes
COMPACT_FINDINGS = 200  # lines of findings in the compact comment
COMPACT_CONTENT = 40_000  # the compact comment still carries a migration up to this size
TEXT_CUT = {"full": 20_000, "compact": 4_000, "minimal": 1_000}  # error text / details per variant

KIND_WORDS = {
    "missing": "only in the models (no migration creates it)",
    "extra": "only in the migrations (the models don't declare it)",
    "changed": "differs",
    "renamed": "named differently",
}


_MIGRATION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.py")


class UnsafeMigrationPath(ConfigError):
    """The report names a migration file outside the project's versions directory (a hostile report)."""


@dataclass(frozen=True)
class Row:
    """A finding as the comment shows it (plain values; the template escapes them)."""

    object: str
    kind: str
    change: str
    severity: str
    migrations: str | None
    models: str | None
    where: str | None  # "backend/models.py:12"
    where_url: str | None
    detail: str


@dataclass(frozen=True)
class CommentContext:
    """What the comment needs besides the Report: where it is posted and what it may offer."""

    comment_id: str = "default"
    repository: str | None = None  # owner/name of the base repository
    head_sha: str | None = None  # the PR head that was analysed
    branch: str | None = None  # the PR's head branch (untrusted text)
    head_repository: str | None = None  # owner/name the branch lives in (a fork's, for fork PRs)
    project_path: str = "."  # the project inside the repository (working-directory)
    run_url: str | None = None  # the workflow run: the job summary and the logs
    server_url: str = "https://github.com"
    can_commit: bool = True  # the workflow token can push to the branch (not a fork)
    previously_reported: bool = False  # an earlier comment exists: a clean report now means "fixed"


def render_comment(report: Report, ctx: CommentContext, marker: str) -> str:
    """The sticky comment, within GitHub's limit: full, else compact, else minimal."""
    body = ""
    for variant in VARIANTS:
        body = _render("comment.md.j2", report, ctx, variant, marker)
        if len(body) <= COMMENT_BUDGET:
            break
    assert len(body) <= COMMENT_LIMIT, f"the minimal comment is {len(body)} characters"
    return body


def render_summary(report: Report, ctx: CommentContext) -> str:
    """The job summary: the full report (compact when the full one passes GitHub's 1 MiB)."""
    body = _render("summary.md.j2", report, ctx, "full", "")
    if len(body.encode()) > SUMMARY_LIMIT:
        body = _render("summary.md.j2", report, ctx, "compact", "")
    return body


def _render(template: str, report: Report, ctx: CommentContext, variant: Variant, marker: str) -> str:
    root = report.project.root if report.project else None
    rows = [_row(f, root, ctx) for f in report.findings]
    groups: dict[str, list[Row]] = {}
    for finding, row in zip(report.findings, rows, strict=True):
        key = f"{finding.schema}.{finding.table}" if finding.schema and finding.table else finding.object
        groups.setdefault(key, []).append(row)
    s = report.suggestion
    migration_path = repo_path(s.path, root, ctx.project_path) if s else None
    offered = _offered_path(report, ctx.project_path)
    content_shown = bool(
        s
        and s.content
        and not s.error
        and escape.exact_safe(s.content)
        and (variant == "full" or (variant == "compact" and len(s.content) <= COMPACT_CONTENT))
    )
    # the comment carries the verified file for the commit command (which replies with the manual
    # steps when the branch is a fork's); the checkbox only where the token can push
    file_block = ""
    if s and content_shown and s.verified and offered and template == "comment.md.j2" and ctx.head_sha and ctx.branch:
        file_block = build_file_block(offered, s.content)
    checkbox = commit_checkbox(ctx.branch) if file_block and ctx.branch and ctx.can_commit else ""
    body = (
        environment()
        .get_template(template)
        .render(
            report=report,
            s=s,
            ctx=ctx,
            variant=variant,
            marker=marker,
            groups=list(groups.items()),
            drift=[r for r in rows if r.severity != "info"],
            info=[r for r in rows if r.severity == "info"],
            # what failed: the schema (drift), the review of the PR's own revisions, or both (the title says)
            schema_drift=[
                r for f, r in zip(report.findings, rows, strict=True) if f.is_drift and f.kind not in REVIEW_KINDS
            ],
            review_failing=[
                r for f, r in zip(report.findings, rows, strict=True) if f.is_drift and f.kind in REVIEW_KINDS
            ],
            migration_path=migration_path,
            content_shown=content_shown,
            file_block=file_block,
            checkbox=checkbox,
            new_file_url=_new_file_url(report, ctx, offered) if checkbox == "" else None,
            cut=TEXT_CUT[variant],
            compact_findings=COMPACT_FINDINGS,
            short_sha=(ctx.head_sha or "")[:7],
            timings=_timings(report),
            models_behind=bool(s and any(h.kind == "models_behind" for h in s.hazards)),
            destructive=[h for h in (s.hazards if s else ()) if h.kind != "models_behind"],
            kind_words=KIND_WORDS,
        )
    )
    return body.strip() + "\n"


def _row(f: Finding, root: str | None, ctx: CommentContext) -> Row:
    change = next((words for suffix, words in KIND_WORDS.items() if f.kind.endswith("_" + suffix)), "")
    where = url = None
    if f.source is not None:
        path = repo_path(f.source.file, root, ctx.project_path)
        where = f"{path}:{f.source.line}"
        if ctx.repository and ctx.head_sha and not path.startswith("../") and not os.path.isabs(path):
            url = f"{ctx.server_url}/{ctx.repository}/blob/{ctx.head_sha}/{quote(path)}#L{f.source.line}"
    return Row(f.object, f.kind, change, f.severity, f.migrations, f.models, where, url, f.detail)


def repo_path(path: str, root: str | None, project_path: str) -> str:
    """A path the report names (absolute, in the checked project) as a path in the repository."""
    inside = relpath(path, root)
    if os.path.isabs(inside):
        return inside
    return str(PurePosixPath(project_path) / inside) if project_path not in ("", ".") else inside


def committable_path(report: Report, project_path: str) -> str:
    """The repository path of the report's migration, when it may be offered for committing.

    Only a file `<name>.py` of plain characters (`[A-Za-z0-9._-]`) directly in a versions
    directory of the project: `<script_location>/versions` or where a head revision's file is,
    inside `project_path` (the workflow's `working-directory`), no `..`, not absolute. The
    report is untrusted (a fork's artifact, or the worker's after running PR code): else
    UnsafeMigrationPath.
    """
    s, project = report.suggestion, report.project
    if s is None or project is None:
        raise UnsafeMigrationPath("the report has no migration or no project to place it in")
    path = repo_path(s.path, project.root, project_path)
    directory, name = posixpath.split(path)
    if (
        not safe_path(path)
        or not _MIGRATION_NAME.fullmatch(name)
        or not _inside(path, project_path)
        or directory not in _versions_dirs(report, project_path)
    ):
        raise UnsafeMigrationPath(
            f"the report's migration {escape.strip_control(path)!r} is not a file of the project's versions "
            f"directory ({', '.join(sorted(_versions_dirs(report, project_path))) or 'none'}): driftbot offers "
            "only `<name>.py` there, in letters, digits, '.', '_' and '-'",
            hint="the report was made by another tool or tampered with; re-run the check",
        )
    return path


def _versions_dirs(report: Report, project_path: str) -> set[str]:
    """Where the project's migrations are: `<script_location>/versions` and the head revisions' directories."""
    project = report.project
    if project is None:
        return set()
    found = [repo_path(posixpath.join(project.script_location, "versions"), project.root, project_path)]
    found += [posixpath.dirname(repo_path(f, project.root, project_path)) for f in project.head_files]
    return {d for d in found if safe_path(d) and _inside(d + "/x", project_path)}


def _inside(path: str, project_path: str) -> bool:
    prefix = project_path.strip("/")
    return prefix in ("", ".") or path.startswith(prefix + "/")


def _offered_path(report: Report, project_path: str) -> str | None:
    try:
        return committable_path(report, project_path)
    except UnsafeMigrationPath:
        return None


def _new_file_url(report: Report, ctx: CommentContext, migration_path: str | None) -> str | None:
    """GitHub's prefilled "create new file" page, for a fork's branch the token cannot push to.

    Undocumented by GitHub, so only offered while the URL stays short; the command is the supported path.
    """
    s = report.suggestion
    repo = ctx.head_repository or ctx.repository
    if ctx.can_commit or not (s and s.content and s.verified and migration_path and repo and ctx.branch):
        return None
    return create_file_link(f"{ctx.server_url}/{repo}", ctx.branch, migration_path, s.content)


def _timings(report: Report) -> list[tuple[str, float]]:
    return [(stage, seconds) for stage, seconds in report.timings.items() if stage != "total" and seconds >= 0.05]
