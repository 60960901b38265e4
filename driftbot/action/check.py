"""The `check` mode: the PR's code runs in the token-free worker; the orchestrator publishes.

The scratch PostgreSQL is started here, on the trusted side (the worker gets only a URL: it
needs no Docker socket and no server binaries of its own). Same-repository PRs get the
comment and status straight away; a fork PR's token is read-only, so the report goes to a
file that a `workflow_run` workflow publishes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from driftbot.action.base import Resolved, Since, resolve_since
from driftbot.action.publish import (
    FORK_WORKFLOW,
    Published,
    Target,
    annotate,
    exit_code,
    publish_to_pr,
    set_outputs,
    summarize,
)
from driftbot.action.settings import Settings
from driftbot.action.worker import SnapshotShare, run_in_worker
from driftbot.errors import EXIT_CLEAN, EXIT_INFRA, DriftbotError
from driftbot.github.client import GitHubClient, GitHubError, make_github
from driftbot.github.events import PullRequestEvent
from driftbot.github.status import CannotSetStatus, set_status
from driftbot.github.workflow import grouped
from driftbot.postgres import start_server
from driftbot.report.files import write_atomically
from driftbot.report.model import ErrorInfo, PostgresInfo, Report, Review, to_json
from driftbot.settings import Secret
from driftbot.settings import Settings as EngineSettings

log = logging.getLogger(__name__)


def run_check(settings: Settings, payload: Mapping[str, Any]) -> int:
    target = _target(settings, payload)
    gh = make_github(settings.github_token.value, settings.api_url) if settings.github_token.value else None
    if gh is not None and target is not None and target.pr_number is not None and not target.is_fork:
        _pending(gh, target)
    resolved = review_since(settings, payload)  # git on the trusted side, before any PR code runs
    report = check_project(settings, resolved.since)
    if resolved.warning is not None:
        log.warning("%s", resolved.warning)
        if report.review is None:
            report = dataclasses.replace(report, review=Review(_base_sha(payload) or "", "ref", note=resolved.warning))
    write_atomically(settings.in_workspace(settings.report_path), to_json(report))
    annotate(report, settings)
    published = Published()
    if target is not None and target.is_fork:
        published.notes.append(
            f"This pull request comes from a fork, whose token cannot comment or set statuses. The report is in "
            f"`{settings.report_path}`: upload it as the `driftbot-report` artifact and the `workflow_run` workflow "
            f"({FORK_WORKFLOW}) publishes the comment and the status."
        )
    elif gh is not None and target is not None:
        published = publish_to_pr(gh, settings, report, target)
    elif target is not None:
        published.notes.append("No github-token: the comment and the status were skipped.")
    summarize(report, settings, target, published.notes)
    set_outputs(report, settings, comment_url=published.comment_url)
    code = exit_code(report, settings.fail_on)
    return code if code != EXIT_CLEAN or not published.api_failed else EXIT_INFRA


def review_since(settings: Settings, payload: Mapping[str, Any]) -> Resolved:
    """The `since` input resolved with git here: the worker's copy of the workspace has no .git."""
    try:
        return resolve_since(settings.since, _base_sha(payload), settings.project_dir, settings.workspace)
    except OSError as exc:  # an unreadable checkout: the check still runs, without the review
        return Resolved(None, f"driftbot did not review this pull request's revisions: {exc}")


def _base_sha(payload: Mapping[str, Any]) -> str | None:
    pr = payload.get("pull_request")
    base = pr.get("base") if isinstance(pr, dict) else None
    sha = base.get("sha") if isinstance(base, dict) else None
    return sha if isinstance(sha, str) and sha else None


def check_project(settings: Settings, since: Since | None = None) -> Report:
    """A scratch server on the trusted side, then `install` and the engine in the worker.

    A failure before the engine's own report (no server, no such directory) becomes a report
    too, so the comment and the status say what went wrong instead of staying pending.
    `since`: the review of the PR's revisions (None: none, whatever the project's pyproject says)."""
    engine = EngineSettings(
        project_dir=settings.project_dir,
        config_file=settings.project_dir / settings.config if settings.config else None,
        metadata=settings.metadata,
        url_env_vars=settings.url_env,
        baseline=settings.baseline,
        suggest=settings.suggest,
        debug=settings.debug,
        postgres="url",
        since=since.label if since else "",
        fail_on="hazard" if settings.fail_on == "hazard" else "drift",
    )
    server_settings = EngineSettings(
        postgres=settings.postgres,
        postgres_version=settings.postgres_version,
        postgres_image=settings.postgres_image,
        database_url=settings.database_url,
    )
    try:
        with ExitStack() as stack:
            if since is not None and since.changed is not None:
                engine = dataclasses.replace(engine, since_files=_since_files(stack, since.changed))
            with grouped("PostgreSQL"):  # groups don't nest: the worker's own groups come after this one
                server = stack.enter_context(start_server(server_settings))
            url = server.admin_url.render_as_string(hide_password=False)
            report = run_in_worker(
                dataclasses.replace(engine, database_url=Secret(url)),
                install=settings.install,
                share=settings.workspace,
                secret_values=[settings.github_token.value],
                snapshots=snapshot_share(settings),
            )
            # the worker saw a URL: the provider is what the trusted side started
            return dataclasses.replace(report, postgres=PostgresInfo(server.provider, server.version))
    except DriftbotError as exc:  # no server, no working directory, ...: still a report to publish
        return Report("error", exc.exit_code, None, None, None, (), {}, ErrorInfo(exc.stage, exc.message, exc.hint))


def snapshot_share(settings: Settings) -> SnapshotShare | None:
    """cache-dir, made ready for the worker to read (and for actions/cache to keep); None, and the
    run is cold, where it cannot be: a link in the checkout must not steer where we write."""
    workspace = settings.workspace.resolve()
    path = workspace
    for part in settings.cache_dir.parts:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            log.warning(
                "cache-dir %s: %s is not a directory; running every revision",
                settings.cache_dir,
                path.relative_to(workspace),
            )
            return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)  # the worker's account reads it in place
        with suppress(FileExistsError):  # O_EXCL: a link of that name is never followed either
            fd = os.open(path / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as ignore:
                ignore.write("# driftbot's snapshot cache (cache-dir): never committed\n*\n")
    except OSError as exc:
        log.warning("cache-dir %s: %s; running every revision", settings.cache_dir, exc.strerror)
        return None
    return SnapshotShare(path, keep=settings.keeps_snapshots)


def _since_files(stack: ExitStack, changed: tuple[str, ...]) -> Path:
    """The changed files for `--since-files`, in a directory of ours (the worker gets a copy)."""
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-since-")))
    path = directory / "since-files"
    path.write_bytes("\0".join(changed).encode("utf-8", "surrogateescape"))
    return path


def _target(settings: Settings, payload: Mapping[str, Any]) -> Target | None:
    if settings.event_name == "pull_request":
        pr = PullRequestEvent.from_payload(payload)
        return Target(pr.repo, pr.head_sha, pr.number, pr.head_ref, pr.head_repo, pr.is_fork, settings.run_url)
    if settings.sha:  # push, merge_group, schedule, manual: a status on the commit, no comment
        return Target(settings.repository, settings.sha, run_url=settings.run_url)
    return None


def _pending(gh: GitHubClient, target: Target) -> None:
    try:
        set_status(
            gh,
            target.repository,
            target.head_sha,
            "pending",
            "Checking the models against the migrations",
            target_url=target.run_url,
        )
    except (CannotSetStatus, GitHubError) as exc:
        log.debug("pending status not set: %s", exc.message)
