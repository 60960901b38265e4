"""Typed event payloads (GITHUB_EVENT_PATH): only the fields driftbot reads, checked once at the edge.

The payload is GitHub's (trusted); the values inside it that came from the PR author
(branch names, comment bodies) are still untrusted text and are escaped wherever shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from driftbot.errors import ConfigError


class EventError(ConfigError):
    """The event payload is missing or lacks a field driftbot needs: exit 2."""


def load_event(path: str | Path) -> dict[str, Any]:
    """The JSON object at `path` (GITHUB_EVENT_PATH)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise EventError(f"cannot read the event payload {path}: {e.strerror}") from e
    except ValueError as e:
        raise EventError(f"the event payload {path} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise EventError(f"the event payload {path} is not a JSON object")
    return data


def _get(payload: Mapping[str, Any], dotted: str) -> Any:
    node: Any = payload
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise EventError(f"the event payload has no `{dotted}`")
        node = node[key]
    return node


def _str(payload: Mapping[str, Any], dotted: str) -> str:
    value = _get(payload, dotted)
    if not isinstance(value, str):
        raise EventError(f"the event payload's `{dotted}` is not a string")
    return value


def _int(payload: Mapping[str, Any], dotted: str) -> int:
    value = _get(payload, dotted)
    if not isinstance(value, int) or isinstance(value, bool):
        raise EventError(f"the event payload's `{dotted}` is not an integer")
    return value


def _opt_str(payload: Mapping[str, Any], dotted: str) -> str | None:
    try:
        value = _get(payload, dotted)
    except EventError:
        return None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Actor:
    """A user in a payload: its numeric id and type identify it (logins are for messages)."""

    login: str
    id: int
    type: str  # "User", "Bot", "Organization"

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], dotted: str) -> Actor:
        return cls(_str(payload, f"{dotted}.login"), _int(payload, f"{dotted}.id"), _str(payload, f"{dotted}.type"))


@dataclass(frozen=True)
class PullRequestEvent:
    action: str
    repo: str  # base repository full name (where the PR lives)
    number: int
    head_sha: str
    head_ref: str
    head_repo: str | None  # None when the fork was deleted
    base_repo: str
    base_ref: str
    is_fork: bool
    maintainer_can_modify: bool

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PullRequestEvent:
        pr = _get(payload, "pull_request")
        head_repo = _opt_str(pr, "head.repo.full_name")
        base_repo = _str(pr, "base.repo.full_name")
        return cls(
            action=_str(payload, "action"),
            repo=_str(payload, "repository.full_name"),
            number=_int(pr, "number"),
            head_sha=_str(pr, "head.sha"),
            head_ref=_str(pr, "head.ref"),
            head_repo=head_repo,
            base_repo=base_repo,
            base_ref=_str(pr, "base.ref"),
            is_fork=head_repo != base_repo,
            maintainer_can_modify=pr.get("maintainer_can_modify") is True,
        )


@dataclass(frozen=True)
class IssueCommentEvent:
    action: Literal["created", "edited", "deleted"]
    repo: str
    comment_id: int
    body: str
    user: Actor  # the comment's author
    issue_number: int
    is_pull_request: bool
    sender: Actor  # who did it: the commenter, or whoever edited (ticked a checkbox)
    previous_body: str | None  # `changes.body.from` of an edit

    @property
    def user_login(self) -> str:
        return self.user.login

    @property
    def sender_login(self) -> str:
        return self.sender.login

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> IssueCommentEvent:
        action = _str(payload, "action")
        if action not in ("created", "edited", "deleted"):
            raise EventError(f"unknown issue_comment action {action!r}")
        issue = _get(payload, "issue")
        return cls(
            action=action,  # type: ignore[arg-type]  # checked above
            repo=_str(payload, "repository.full_name"),
            comment_id=_int(payload, "comment.id"),
            body=_opt_str(payload, "comment.body") or "",
            user=Actor.from_payload(payload, "comment.user"),
            issue_number=_int(issue, "number"),
            is_pull_request=isinstance(issue.get("pull_request"), Mapping),
            sender=Actor.from_payload(payload, "sender"),
            previous_body=_opt_str(payload, "changes.body.from"),
        )


@dataclass(frozen=True)
class WorkflowRunEvent:
    action: str
    id: int
    head_sha: str
    head_branch: str | None
    head_repository: str | None  # the fork for a fork PR
    conclusion: str | None
    repository: str  # where the workflow ran (the base repository)
    event: str  # what triggered the run that completed ("pull_request")
    pull_numbers: tuple[int, ...]  # empty for fork PRs: GitHub lists only same-repository PRs

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> WorkflowRunEvent:
        run = _get(payload, "workflow_run")
        pulls = run.get("pull_requests") or []
        return cls(
            action=_str(payload, "action"),
            id=_int(run, "id"),
            head_sha=_str(run, "head_sha"),
            head_branch=_opt_str(run, "head_branch"),
            head_repository=_opt_str(run, "head_repository.full_name"),
            conclusion=_opt_str(run, "conclusion"),
            repository=_str(payload, "repository.full_name"),
            event=_opt_str(run, "event") or "",
            pull_numbers=tuple(
                p["number"] for p in pulls if isinstance(p, Mapping) and isinstance(p.get("number"), int)
            ),
        )
