"""The `driftbot` commit status on the PR head (GITHUB.md §9)."""

from __future__ import annotations

import logging
from typing import Literal

from github import Github, GithubException
from github.GithubObject import NotSet

from driftbot.github.client import API_ERRORS, GitHubError, describe, status_of

log = logging.getLogger(__name__)

State = Literal["success", "failure", "error", "pending"]
MAX_DESCRIPTION = 140  # GitHub answers 422 to a longer description


class CannotSetStatus(GitHubError):
    """GitHub refused the status (403: the token lacks `statuses: write`, e.g. a fork PR's token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"cannot set the commit status: {reason}",
            hint="give the job `permissions: statuses: write`; fork PRs publish from a `workflow_run` workflow",
        )
        self.reason = reason


def cut(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def set_status(
    gh: Github,
    repo: str,
    sha: str,
    state: State,
    description: str,
    target_url: str | None = None,
    context: str = "driftbot",
) -> None:
    """Set the commit status `context` on `sha` (the PR head, not the merge commit)."""
    try:
        gh.get_repo(repo).get_commit(sha).create_status(
            state, target_url if target_url else NotSet, cut(description), context
        )
    except GithubException as e:
        if status_of(e) in (403, 404, 422):
            raise CannotSetStatus(describe(e)) from e
        raise GitHubError(f"GitHub API: could not set the commit status: {describe(e)}") from e
    except API_ERRORS as e:
        raise GitHubError(f"GitHub API: could not set the commit status: {describe(e)}") from e
    log.info("status %s=%s on %s: %s", context, state, sha[:12], cut(description))
