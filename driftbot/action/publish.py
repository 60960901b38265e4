"""Publishing a Report: the sticky comment and the `driftbot` status on the PR head, the job
summary, annotations and step outputs; and the `publish` mode, which does this for a fork PR
from the report its check uploaded, treating that file as untrusted data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftbot.action.settings import FailOn, Settings
from driftbot.action.worker import read_report
from driftbot.compare.findings import Finding
from driftbot.compare.kinds import REVIEW_KINDS
from driftbot.errors import EXIT_CLEAN, EXIT_INFRA
from driftbot.github.client import GitHubClient, GitHubError, make_github
from driftbot.github.comments import CannotPostComment, find_sticky_comment, marker, post_sticky_comment
from driftbot.github.events import WorkflowRunEvent
from driftbot.github.pulls import find_pull_for_run
from driftbot.github.status import CannotSetStatus, State, set_status
from driftbot.github.workflow import Level, add_job_summary, annotation, set_output
from driftbot.report.comment import CommentContext, committable_path, render_comment, render_summary, repo_path
from driftbot.report.model import Report

log = logging.getLogger(__name__)

ARTIFACT_MAX_BYTES = 5 * 1024 * 1024  # a report artifact larger than this is refused unread
ANNOTATIONS_PER_LEVEL = 10  # the runner shows at most 10 per level and step; a notice counts the rest
FORK_WORKFLOW = "examples/workflows/driftbot-fork-publish.yml"
Emit = Callable[[str], object]


def emit(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Target:
    """Where a report goes: the PR (if any) and the commit the status belongs to."""

    repository: str
    head_sha: str
    pr_number: int | None = None
    branch: str | None = None
    head_repository: str | None = None
    is_fork: bool = False
    run_url: str | None = None


@dataclass
class Published:
    comment_url: str | None = None
    notes: list[str] = field(default_factory=list)  # what could not be done, and why (for the summary)
    api_failed: bool = False


def exit_code(report: Report, fail_on: FailOn) -> int:
    """DESIGN.md's exit codes, under the `fail-on` policy."""
    if fail_on == "never":
        return EXIT_CLEAN
    if fail_on == "error" and report.status != "error":
        return EXIT_CLEAN
    return report.exit_code


def status_for(report: Report, fail_on: FailOn) -> tuple[State, str]:
    """The `driftbot` commit status: state by `fail-on`, and one line saying why."""
    failing = exit_code(report, fail_on) != EXIT_CLEAN
    review = sum(f.kind in REVIEW_KINDS for f in report.drift)
    drift = len(report.drift) - review
    if report.status == "clean":
        return "success", "No schema drift between the models and the migrations"
    if report.status == "drift":
        fix = "; a verified fix is in the PR comment" if report.suggestion and report.suggestion.verified else ""
        policy = "" if failing else f" (fail-on: {fail_on})"
        what = [
            f"{n} {word}{'s' * (n != 1)}" for n, word in ((drift, "drift finding"), (review, "review finding")) if n
        ]
        return ("failure" if failing else "success"), f"{' and '.join(what)}{fix}{policy}"
    why = report.error.message.splitlines()[0] if report.error else "the migrations have more than one head"
    return ("error" if failing else "success"), f"Could not check the project: {why}"


def comment_context(settings: Settings, target: Target, previously_reported: bool) -> CommentContext:
    return CommentContext(
        comment_id=settings.comment_id,
        repository=target.repository,
        head_sha=target.head_sha,
        branch=target.branch,
        head_repository=target.head_repository,
        project_path=str(settings.working_directory),
        run_url=target.run_url,
        server_url=settings.server_url,
        can_commit=not target.is_fork,
        previously_reported=previously_reported,
    )


def publish_to_pr(gh: GitHubClient, settings: Settings, report: Report, target: Target) -> Published:
    """The sticky comment and the status. A refusal (403: a read-only token) is a note, not a failure."""
    done = Published()
    if settings.comment and target.pr_number is not None:
        try:
            existing = find_sticky_comment(gh, target.repository, target.pr_number, settings.comment_id)
            if report.status == "clean" and existing is None:
                log.info("no drift and no earlier driftbot comment: nothing to comment")
            else:
                body = render_comment(
                    report,
                    comment_context(settings, target, existing is not None),
                    marker(settings.comment_id, target.head_sha),
                )
                comment_id = post_sticky_comment(gh, target.repository, target.pr_number, body, settings.comment_id)
                done.comment_url = (
                    f"{settings.server_url}/{target.repository}/pull/{target.pr_number}#issuecomment-{comment_id}"
                )
        except CannotPostComment as exc:
            done.notes.append(
                f"The pull request comment could not be posted ({exc.reason}): this token cannot "
                "write to pull requests. Give the job `permissions: pull-requests: write`; for pull "
                f"requests from forks, publish with a `workflow_run` workflow ({FORK_WORKFLOW})."
            )
        except GitHubError as exc:
            done.api_failed = True
            done.notes.append(f"The pull request comment could not be posted: {exc.message}")
    state, description = status_for(report, settings.fail_on)
    try:
        set_status(gh, target.repository, target.head_sha, state, description, target_url=target.run_url)
    except CannotSetStatus as exc:
        done.notes.append(
            f"The `driftbot` status could not be set ({exc.reason}): give the job `permissions: statuses: write`."
        )
    except GitHubError as exc:
        done.api_failed = True
        done.notes.append(f"The `driftbot` status could not be set: {exc.message}")
    for note in done.notes:
        log.warning("%s", note)
    return done


def annotate(report: Report, settings: Settings, out: Emit = emit) -> None:
    """Annotations on the model lines the findings point to (the first 10 per level)."""
    root = report.project.root if report.project else None
    per_level: dict[Level, list[Finding]] = {"error": [], "warning": [], "notice": []}
    for f in report.findings:
        level: Level = "notice" if not f.is_drift else "error" if settings.fail_on in ("drift", "hazard") else "warning"
        per_level[level].append(f)
    for level, findings in per_level.items():
        for f in findings[:ANNOTATIONS_PER_LEVEL]:
            path = repo_path(f.source.file, root, str(settings.working_directory)) if f.source else None
            usable = path is not None and not path.startswith(("/", "../"))
            message = (
                f"{f.object}: {f.kind}\nmigrations build: {f.migrations or '(nothing)'}\n"
                f"models declare: {f.models or '(nothing)'}"
            )
            out(
                annotation(
                    level,
                    message,
                    file=path if usable else None,
                    line=f.source.line if usable and f.source else None,
                    title=f"driftbot: {f.kind}",
                )
            )
        if len(findings) > ANNOTATIONS_PER_LEVEL:
            out(
                annotation(
                    "notice",
                    f"{len(findings) - ANNOTATIONS_PER_LEVEL} more {level} findings: see the job summary",
                    title="driftbot",
                )
            )


def summarize(report: Report, settings: Settings, target: Target | None, notes: list[str]) -> None:
    ctx = (
        comment_context(settings, target, False)
        if target
        else CommentContext(
            comment_id=settings.comment_id,
            project_path=str(settings.working_directory),
            run_url=settings.run_url,
            server_url=settings.server_url,
        )
    )
    text = render_summary(report, ctx)
    if notes:
        text += "\n" + "\n".join(f"> [!NOTE]\n> {note}\n" for note in notes)
    add_job_summary(text, path=settings.summary_file)


def set_outputs(report: Report, settings: Settings, *, comment_url: str | None = None) -> None:
    root = report.project.root if report.project else None
    s = report.suggestion
    outputs = {
        "drift": "true" if report.drift else "false",
        "findings": len(report.drift),
        "status": report.status,
        "report-path": str(settings.report_path),
        "migration-path": repo_path(s.path, root, str(settings.working_directory)) if s and s.content else "",
        "comment-url": comment_url or "",
    }
    for name, value in outputs.items():
        set_output(name, value, path=settings.output_file)


# ---------------------------------------------------------------------------------- publish mode


def check_artifact(report: Report, settings: Settings) -> None:
    """What the schema cannot say: a migration the report carries is a file of the project's versions
    directory (the comment offers it for committing). UnsafeMigrationPath otherwise."""
    s = report.suggestion
    if s is not None and s.content and not s.error:
        committable_path(report, str(settings.working_directory))


def run_publish(settings: Settings, payload: Mapping[str, Any]) -> int:
    """Post a fork PR's comment and status from the report artifact its check uploaded.

    Runs no PR code: the artifact is data (size cap, JSON schema, strict load) and the
    comment is rendered here. Repository, head SHA and run come from the trusted payload only.
    """
    run = WorkflowRunEvent.from_payload(payload)
    if run.event not in ("pull_request", ""):
        log.info("the run was started by %s, not a pull request: nothing to publish", run.event)
        return EXIT_CLEAN
    path = settings.in_workspace(settings.report_path)
    if not path.is_file():
        log.info(
            "no report artifact at %s: nothing to publish (same-repository PRs publish from the check)",
            settings.report_path,
        )
        return EXIT_CLEAN
    report = read_report(Path(path), ARTIFACT_MAX_BYTES)
    check_artifact(report, settings)
    gh = make_github(settings.github_token.value, settings.api_url)
    number, branch = find_pull_for_run(gh, settings.repository, run)
    run_url = f"{settings.server_url}/{settings.repository}/actions/runs/{run.id}"
    if number is None:
        log.info("no open pull request has head %s any more: nothing to publish", run.head_sha[:12])
        return EXIT_CLEAN
    target = Target(
        settings.repository,
        run.head_sha,
        number,
        branch,
        run.head_repository,
        run.head_repository != settings.repository,
        run_url,
    )
    published = publish_to_pr(gh, settings, report, target)
    summarize(report, settings, target, published.notes)
    set_outputs(report, settings, comment_url=published.comment_url)
    return EXIT_INFRA if published.api_failed else EXIT_CLEAN
