"""The sticky PR comment: one per PR (and per `id`), found again by author + hidden marker (GITHUB.md §7).

The marker is a line of its own at the end of the body:
`<!-- driftbot:comment v1 id=<id> sha=<head-sha> -->`. It is matched on its `id`, and only
outside fenced code blocks, so text quoted from the PR (a migration in a code block) can
never pose as a marker. Its `sha=` records the head that was analysed (the commit command
refuses when the PR has moved on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from github import Github, GithubException
from github.IssueComment import IssueComment

from driftbot.errors import ConfigError
from driftbot.github.client import API_ERRORS, GitHubError, Identity, api_errors, describe, status_of, viewer_identity

log = logging.getLogger(__name__)

MARKER_PREFIX = "<!-- driftbot:comment v1"
MAX_COMMENT = 65_536  # GitHub's limit on a comment body, in characters
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_ID = re.compile(ID_PATTERN)
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_MARKER = re.compile(
    rf"<!-- driftbot:comment v1 id=(?P<id>{ID_PATTERN}) sha=(?P<sha>[0-9a-f]{{40}}(?:[0-9a-f]{{24}})?) -->"
)
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*$")


class MissingMarker(ConfigError):
    """A comment body (a custom template) without driftbot's marker: it could never be found again."""


class CannotPostComment(GitHubError):
    """GitHub refused the comment (403: read-only token of a fork PR; 404; 422). `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"cannot post the pull request comment: {reason}",
            hint="a fork PR's token is read-only: publish from a `workflow_run` workflow (see README)",
        )
        self.reason = reason


@dataclass(frozen=True)
class Marker:
    id: str
    sha: str


def marker(comment_id: str, head_sha: str) -> str:
    """`<!-- driftbot:comment v1 id=<id> sha=<sha> -->`: put it on a line of its own at the end of the body."""
    if not _ID.fullmatch(comment_id):
        raise ValueError(f"comment id {comment_id!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    if not _SHA.fullmatch(head_sha):
        raise ValueError(f"head sha {head_sha!r} is not a full hexadecimal commit SHA")
    return f"{MARKER_PREFIX} id={comment_id} sha={head_sha} -->"


def unfenced(body: str) -> list[tuple[int, str]]:
    """(index, line) of the lines of a Markdown body outside fenced code blocks (CommonMark fences)."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for i, line in enumerate(body.split("\n")):
        line = line.rstrip("\r")
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m and not (m["fence"][0] == "`" and "`" in m["info"]):
                fence = m["fence"]
            else:
                out.append((i, line))
        else:
            m = _FENCE_CLOSE.match(line)
            if m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence):
                fence = None
    return out


def unfenced_lines(body: str) -> list[str]:
    return [line for _, line in unfenced(body)]


def find_markers(body: str) -> list[Marker]:
    """Every driftbot comment marker standing on a line of its own outside code blocks, in order."""
    found = []
    for line in unfenced_lines(body):
        m = _MARKER.fullmatch(line.strip())
        if m:
            found.append(Marker(m["id"], m["sha"]))
    return found


def read_marker(body: str, comment_id: str = "default") -> Marker | None:
    """The (last) marker for `comment_id` in `body`, or None."""
    return next((m for m in reversed(find_markers(body)) if m.id == comment_id), None)


def post_sticky_comment(
    gh: Github, repo: str, pr_number: int, body: str, comment_id: str = "default", *, author: Identity | None = None
) -> int:
    """Create or update driftbot's one comment on the PR; its id.

    Scans every page of comments for ones written by `author` (default: the token's own
    account, by id and type) that carry the marker for `comment_id`; updates the newest in place (nothing is
    sent when the body is unchanged) and deletes older copies; else creates one, then lists
    again and deletes duplicates (a retried POST or a concurrent run may have made two).
    """
    if read_marker(body, comment_id) is None:
        raise MissingMarker(
            f"the comment body has no driftbot marker for id {comment_id!r} on a line of its own",
            hint="end custom templates with {{ marker }}",
        )
    if len(body) > MAX_COMMENT:
        raise CannotPostComment(f"the body is {len(body):,} characters; GitHub allows {MAX_COMMENT:,}")
    me = author or viewer_identity(gh)
    try:
        return _upsert(gh, repo, pr_number, body, comment_id, me)
    except GithubException as e:
        if status_of(e) in (403, 404, 410, 422):
            raise CannotPostComment(describe(e)) from e
        raise GitHubError(f"GitHub API: could not post the comment: {describe(e)}") from e
    except API_ERRORS as e:
        raise GitHubError(f"GitHub API: could not post the comment: {describe(e)}") from e


def _upsert(gh: Github, repo: str, pr_number: int, body: str, comment_id: str, me: Identity) -> int:
    issue = gh.get_repo(repo).get_issue(pr_number)
    mine = _ours(issue.get_comments(), me, comment_id)
    if mine:
        newest, older = mine[-1], mine[:-1]
        if newest.body != body:
            newest.edit(body)
            log.info("updated driftbot comment %s on #%s", newest.id, pr_number)
        else:
            log.info("driftbot comment %s on #%s is unchanged", newest.id, pr_number)
        _delete(older)
        return int(newest.id)
    created = issue.create_comment(body)
    log.info("created driftbot comment %s on #%s", created.id, pr_number)
    mine = _ours(issue.get_comments(), me, comment_id)
    keep = mine[0] if mine else created  # the oldest: concurrent runs all keep the same one
    _delete([c for c in mine if c.id != keep.id])
    return int(keep.id)


def find_sticky_comment(
    gh: Github, repo: str, pr_number: int, comment_id: str = "default", *, author: Identity | None = None
) -> tuple[int, str] | None:
    """(id, body) of driftbot's newest comment for `comment_id` on the PR, or None."""
    me = author or viewer_identity(gh)
    with api_errors(f"list the comments of #{pr_number}"):
        mine = _ours(gh.get_repo(repo).get_issue(pr_number).get_comments(), me, comment_id)
    return (int(mine[-1].id), str(mine[-1].body)) if mine else None


def _ours(comments: Iterable[IssueComment], me: Identity, comment_id: str) -> list[IssueComment]:
    """Comments by `me` (id and type, not a look-alike login) with the marker for `comment_id`, oldest first."""
    found = [c for c in comments if me.owns(c.user) and read_marker(c.body or "", comment_id) is not None]
    return sorted(found, key=lambda c: (c.created_at, c.id))


def _delete(comments: list[IssueComment]) -> None:
    for c in comments:
        try:
            c.delete()
            log.info("deleted duplicate driftbot comment %s", c.id)
        except GithubException as e:
            if status_of(e) != 404:  # already gone: another run removed it
                raise
