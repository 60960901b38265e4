"""One issue per scheduled production check (issue 5 item 6), found again by a hidden marker.

Opened when drift appears, updated while it lasts, closed with a comment when it is gone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from github import Github, GithubException
from github.Issue import Issue

from driftbot.github.client import API_ERRORS, GitHubError, Identity, describe, viewer_identity
from driftbot.github.comments import ID_PATTERN, MAX_COMMENT, unfenced_lines

log = logging.getLogger(__name__)

ISSUE_MARKER_PREFIX = "<!-- driftbot:issue v1"
CLOSE_COMMENT = "driftbot found no drift on its latest check: closing."


class CannotPublishIssue(GitHubError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            f"cannot publish the drift issue: {reason}", hint="give the scheduled job `permissions: issues: write`"
        )
        self.reason = reason


def issue_marker(issue_marker_id: str) -> str:
    if not re.fullmatch(ID_PATTERN, issue_marker_id):
        raise ValueError(f"issue id {issue_marker_id!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return f"{ISSUE_MARKER_PREFIX} id={issue_marker_id} -->"


def publish_issue(
    gh: Github,
    repo: str,
    title: str,
    body: str | None,
    issue_marker_id: str,
    *,
    author: Identity | None = None,
    close_comment: str = CLOSE_COMMENT,
) -> int | None:
    """Open, update or close driftbot's issue for `issue_marker_id`; the issue's number (None: nothing open).

    `body` None means "no drift": the open issue (if any) gets `close_comment` and is closed.
    Otherwise the body (the marker is appended) updates the open issue, or opens one. Only open
    issues written by `author` (default: the token's account, by id and type) with the marker count.
    """
    mark = issue_marker(issue_marker_id)
    me = author or viewer_identity(gh)
    try:
        gh_repo = gh.get_repo(repo)
        mine = _open_issues(gh_repo.get_issues(state="open"), me, mark)
        if body is None:
            for issue in mine:
                issue.create_comment(close_comment)
                issue.edit(state="closed", state_reason="completed")
                log.info("closed drift issue #%s", issue.number)
            return None
        full = body if _has_mark(body, mark) else f"{body.rstrip()}\n\n{mark}\n"
        if len(full) > MAX_COMMENT:
            raise CannotPublishIssue(f"the body is {len(full):,} characters; GitHub allows {MAX_COMMENT:,}")
        if mine:
            keep = mine[0]
            if keep.title != title or keep.body != full:
                keep.edit(title=title, body=full)
                log.info("updated drift issue #%s", keep.number)
        else:
            created = gh_repo.create_issue(title=title, body=full)
            log.info("opened drift issue #%s", created.number)
            mine = _open_issues(gh_repo.get_issues(state="open"), me, mark) or [created]
            keep = mine[0]
        for duplicate in mine[1:]:  # a retried POST, or a concurrent run
            duplicate.edit(state="closed", state_reason="duplicate")
        return int(keep.number)
    except GithubException as e:
        if e.status in (403, 404, 410, 422):
            raise CannotPublishIssue(describe(e)) from e
        raise GitHubError(f"GitHub API: could not publish the drift issue: {describe(e)}") from e
    except API_ERRORS as e:
        raise GitHubError(f"GitHub API: could not publish the drift issue: {describe(e)}") from e


def _has_mark(body: str, mark: str) -> bool:
    return any(line.strip() == mark for line in unfenced_lines(body))


def _open_issues(issues: Iterable[Issue], me: Identity, mark: str) -> list[Issue]:
    """Open issues (not PRs) by `me` (id and type) carrying `mark` on a line of its own, oldest first."""
    found = [i for i in issues if i.pull_request is None and me.owns(i.user) and _has_mark(i.body or "", mark)]
    return sorted(found, key=lambda i: i.number)
