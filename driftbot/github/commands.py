"""The one-click commit (GITHUB.md §22-24, issue 4 item 4): commit the migration driftbot's own comment carries.

Triggered by a comment `/driftbot commit` (`issue_comment` created) or by ticking the
checkbox "Commit this migration to `branch`" in driftbot's comment (`issue_comment` edited).
It never runs PR code. In order, it checks that the carrying comment is the bot's own and
has its marker, that the actor may write to the repository, that the PR head is still the
SHA the comment was made for, that the migration matches the checksum the bot wrote next to
it, and that the token can push to the head branch (not a fork it cannot write to). Then it
commits through the Git Data API (blob → tree on the analysed commit → commit whose parent is
the analysed commit → fast-forward-only ref update, so GitHub itself refuses if the branch
moved), sets the `driftbot` status on the new commit, and replies in the thread.

Three steps: `read_request` reads from GitHub what the checks need into a `CommitRequest`;
`decide_commit` (the policy) is a pure function of it, a refusal or a `CommitPlan`; then the
plan is committed (`existing_refusal` and `push_refusal` say what GitHub's answers mean).

The template side writes the file with `build_file_block` (marker line + exact fenced
content) and the checkbox with `commit_checkbox`.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from github import Github, GithubException, InputGitTreeElement

from driftbot.github.client import API_ERRORS, GitHubError, Identity, api_errors, describe, status_of, viewer_identity
from driftbot.github.comments import (
    MAX_COMMENT,
    Marker,
    find_markers,
    find_sticky_comment,
    read_marker,
    unfenced,
    unfenced_lines,
)
from driftbot.github.events import IssueCommentEvent
from driftbot.github.status import CannotSetStatus, set_status
from driftbot.safety import escape

log = logging.getLogger(__name__)

COMMAND = "/driftbot commit"
CHECKBOX_LABEL = "Commit this migration to"
MAX_LINK = 8 * 1024  # the prefilled "create this file" URL is undocumented; GitHub's real limit is unknown
WRITE_PERMISSIONS = ("admin", "write")  # the legacy permission: maintain and custom write roles read "write"
_COMMAND = re.compile(r"/driftbot\s+commit(?:\s+(?P<id>\S+))?")
_CHECKBOX = re.compile(r"^\s{0,3}[-*+]\s+\[(?P<mark>[ xX])\]\s+" + re.escape(CHECKBOX_LABEL) + r"\b")
_FILE_MARKER = re.compile(r"<!-- driftbot:file path=(?P<path>[A-Za-z0-9%._~/+-]+) sha256=(?P<sha>[0-9a-f]{64}) -->")
_BACKTICK_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`]*)$")

Reason = Literal[
    "committed",
    "ignored",
    "not_bot_comment",
    "no_comment",
    "forbidden",
    "closed",
    "stale",
    "no_migration",
    "tampered",
    "fork",
    "exists",
    "push_denied",
]


@dataclass(frozen=True)
class CommitOutcome:
    done: bool  # a commit was made
    reply: str  # Markdown for the thread ("" when the event was not for driftbot)
    new_sha: str | None = None
    path: str | None = None
    reason: Reason = "committed"
    reply_id: int | None = None  # the reply comment, when it was posted


# ---------------------------------------------------------------- the template side


def _ticks(content: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", content)), default=0)
    return "`" * max(3, longest + 1)


def build_file_marker(path: str, content: str) -> str:
    """`<!-- driftbot:file path=<url-quoted path> sha256=<hex> -->` for a file driftbot offers to commit."""
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return f"<!-- driftbot:file path={urllib.parse.quote(path, safe='/')} sha256={digest} -->"


def build_file_block(path: str, content: str, lang: str = "python") -> str:
    """The marker line and the exact content in a fence longer than any backtick run inside it.

    Put it in the comment as is (never through an escaping filter: the checksum covers the
    exact text). Only for a verified suggestion: a file here is what the commit command commits.
    """
    ticks = _ticks(content)
    text = content if content.endswith("\n") else content + "\n"
    return f"{build_file_marker(path, content)}\n{ticks}{lang}\n{text}{ticks}"


def commit_checkbox(branch: str, checked: bool = False) -> str:
    """The task-list line whose ticking commits the migration (`- [ ] Commit this migration to `branch``)."""
    return f"- [{'x' if checked else ' '}] {CHECKBOX_LABEL} {escape.code(branch)}"


def create_file_link(repo_html_url: str, branch: str, path: str, content: str) -> str | None:
    """GitHub's prefilled "create new file" page for `path` on `branch`, or None when the URL would be too long."""
    directory, name = posixpath.split(path)
    url = (
        f"{repo_html_url.rstrip('/')}/new/{urllib.parse.quote(branch, safe='/')}/{urllib.parse.quote(directory, safe='/')}"
        f"?filename={urllib.parse.quote(name, safe='')}&value={urllib.parse.quote(content, safe='')}"
    )
    return url if len(url) < MAX_LINK else None


# ---------------------------------------------------------------- reading the bot's comment


@dataclass(frozen=True)
class _Carried:
    path: str
    content: str
    verified: bool  # the content matches the sha256 the bot wrote


_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/-]+")  # no space, newline or shell/Markdown character in a path we commit


def safe_path(path: str) -> bool:
    """A relative path of plain characters inside the repository, not under .git/ or .github/ (workflows)."""
    parts = path.split("/")
    return (
        _PLAIN_PATH.fullmatch(path) is not None
        and all(p not in ("", ".", "..") for p in parts)
        and parts[0] != ".github"
        and ".git" not in parts
    )


def _carried(body: str) -> _Carried | None:
    """The one file the body carries (marker outside code blocks, then a backtick fence), or None."""
    lines = [line.rstrip("\r") for line in body.split("\n")]
    markers = [(i, m) for i, line in unfenced(body) if (m := _FILE_MARKER.fullmatch(line.strip()))]
    if len(markers) != 1:
        return None  # none, or ambiguous
    start, found = markers[0]
    i = start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not (opening := _BACKTICK_FENCE.match(lines[i])):
        return None
    closing = re.compile(rf"`{{{len(opening['fence'])},}}[ \t]*")
    inner: list[str] = []
    for line in lines[i + 1 :]:
        if closing.fullmatch(line):
            break
        inner.append(line)
    else:
        return None  # never closed
    path = urllib.parse.unquote(found["path"])
    text = "\n".join(inner)
    for content in (text + "\n", text):
        if hashlib.sha256(content.encode("utf-8")).hexdigest() == found["sha"]:
            return _Carried(path, content, safe_path(path))
    return _Carried(path, text + "\n", False)


def extract_migration(body: str) -> tuple[str, str] | None:
    """(path, content) of the migration a driftbot comment carries, only when its sha256 matches."""
    carried = _carried(body)
    return (carried.path, carried.content) if carried is not None and carried.verified else None


def is_ticked(body: str) -> bool:
    """The commit checkbox is ticked (outside code blocks)."""
    return any((m := _CHECKBOX.match(line)) and m["mark"] in "xX" for line in unfenced_lines(body))


def command_id(body: str) -> str | None:
    """For a `/driftbot commit [id]` comment (its first line), the id it names ("" for none); else None."""
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    m = _COMMAND.fullmatch(first)
    if m is None:
        return None
    return m["id"] or ""


# ---------------------------------------------------------------- the command


def handle_commit_command(
    gh: Github,
    event: IssueCommentEvent,
    *,
    repo: str,
    bot: Identity | None = None,
    bot_login: str | None = None,
    comment_id: str = "default",
    post_reply: bool = True,
    run_url: str | None = None,
) -> CommitOutcome:
    """Commit the migration driftbot's comment carries, after every check; reply in the thread.

    `repo` is the repository the workflow runs in (from the trusted context), `bot` the
    account that wrote driftbot's comments (default: the token's, `viewer_identity`), matched
    by id and type. `bot_login` is accepted for old callers and ignored: a login never decides.
    With `post_reply` the reply is posted as a new comment on the PR; it is always returned.
    `run_url` links the status.
    """
    del bot_login
    me = bot or viewer_identity(gh)
    trigger = _trigger(event, me, comment_id)
    if trigger is None:
        return CommitOutcome(False, "", reason="ignored")
    actor, carrier = trigger
    outcome = _run(gh, event, repo=repo, bot=me, comment_id=comment_id, actor=actor, carrier=carrier, run_url=run_url)
    if outcome.reason == "ignored" or not post_reply:
        return outcome
    try:
        with api_errors("reply in the pull request"):
            reply = gh.get_repo(repo).get_issue(event.issue_number).create_comment(outcome.reply)
    except GitHubError as e:
        log.warning("could not post the reply: %s", e.message)
        return outcome
    return CommitOutcome(outcome.done, outcome.reply, outcome.new_sha, outcome.path, outcome.reason, int(reply.id))


def _trigger(event: IssueCommentEvent, bot: Identity, comment_id: str) -> tuple[str, str | None] | None:
    """(actor, the carrying comment's body for an edit) when this event asks driftbot to commit."""
    if not event.is_pull_request:
        return None
    if event.action == "created":
        named = command_id(event.body)
        if named is None or named not in ("", comment_id) or bot.owns(event.user):
            return None
        return event.user_login, None
    if event.action == "edited":
        if bot.owns(event.sender):
            return None  # driftbot updating its own comment
        if event.previous_body is None or not is_ticked(event.body) or is_ticked(event.previous_body):
            return None
        markers = find_markers(event.body)
        if markers and all(m.id != comment_id for m in markers):
            return None  # another driftbot instance's comment (monorepo `id`)
        return event.sender_login, event.body
    return None


@dataclass(frozen=True)
class PullState:
    """The pull request as GitHub has it now (`head_repo` None: the head repository was deleted)."""

    state: str
    head_sha: str
    branch: str
    head_repo: str | None
    head_html: str | None = None
    maintainer_can_modify: bool = False


@dataclass(frozen=True)
class CommitRequest:
    """Everything the commit policy decides on, read from GitHub beforehand (`read_request`)."""

    repo: str  # the repository the workflow runs in (trusted context)
    number: int
    actor: str  # who commented or ticked
    comment_id: str
    carrier: str | None  # the body of the comment carrying the migration; None: no driftbot comment
    carrier_is_bots: bool  # written by driftbot's account (id and type)
    permission: str  # the actor's collaborator permission ("none" when not a collaborator)
    pull: PullState
    fork_pushable: bool = False  # the token may push to the head repository (asked for forks maintainers may edit)


@dataclass(frozen=True)
class CommitPlan:
    """An approved commit: `content` at `path` on `branch` of `head_repo`, on top of `parent`."""

    request: CommitRequest
    head_repo: str
    path: str
    content: str

    @property
    def parent(self) -> str:  # the analysed commit: the marker's sha=, equal to the PR head (checked)
        return self.request.pull.head_sha

    @property
    def branch(self) -> str:
        return self.request.pull.branch

    @property
    def who(self) -> str:
        return escape.code(self.request.actor)

    @property
    def message(self) -> str:
        r = self.request
        return (
            f"Add driftbot's verified migration {posixpath.basename(self.path)}\n\n"
            f"Generated and verified by driftbot for {self.parent[:12]} (upgrade, no drift left,\n"
            f"downgrade restores the schema, upgrade again). Requested by {r.actor} in {r.repo}#{r.number}.\n"
        )

    def manual(self) -> CommitOutcome:
        """The fork the token cannot push to: how to add the file by hand."""
        pull = self.request.pull
        text = _manual(
            self.who, self.head_repo, pull.head_html, self.branch, self.path, self.content, pull.maintainer_can_modify
        )
        return _refused("fork", text, self.path)


def _refused(reason: Reason, reply: str, path: str | None = None) -> CommitOutcome:
    return CommitOutcome(False, reply, path=path, reason=reason)


def decide_commit(req: CommitRequest) -> CommitOutcome | CommitPlan:
    """The commit policy (GITHUB.md §22): the first rule that refuses wins, else the approved plan.

    In order: driftbot's own comment with its marker; write permission; an open PR whose head
    is the SHA driftbot analysed; the migration exactly as driftbot wrote it (checksum); a
    head branch the token can push to (else the manual path for forks).
    """
    who = escape.code(req.actor)
    recorded = _recorded(req, who)
    if isinstance(recorded, CommitOutcome):
        return recorded
    if req.permission not in WRITE_PERMISSIONS:
        return _refused(
            "forbidden",
            f"Sorry {who}, committing to this pull request needs write access to the "
            f"repository (yours is {escape.code(req.permission)}). A maintainer can tick the box or "
            f"comment `{COMMAND}` instead.",
        )
    pull = req.pull
    if pull.state != "open":
        return _refused("closed", f"{who}: this pull request is {escape.code(pull.state)}; nothing was committed.")
    if pull.head_sha != recorded.sha:
        return _refused(
            "stale",
            f"{who}: there are new commits since driftbot analysed `{recorded.sha[:12]}` "
            f"(the head is now `{pull.head_sha[:12]}`), so its migration may no longer fit. Re-run the "
            "check and commit from the updated comment.",
        )
    carried = _carried(req.carrier or "")
    if carried is None:
        return _refused("no_migration", f"{who}: driftbot's comment carries no verified migration to commit.")
    if not carried.verified:
        return _refused(
            "tampered",
            f"{who}: the migration in driftbot's comment does not match the checksum "
            "driftbot wrote next to it (the comment was edited), so it was not committed. Re-run the "
            "check.",
            carried.path,
        )
    if pull.head_repo is None:
        return _refused(
            "fork",
            f"{who}: the pull request's head repository no longer exists; nothing can be committed to it.",
            carried.path,
        )
    plan = CommitPlan(req, pull.head_repo, carried.path, carried.content)
    if pull.head_repo != req.repo and not (pull.maintainer_can_modify and req.fork_pushable):
        return plan.manual()
    return plan


def _recorded(req: CommitRequest, who: str) -> CommitOutcome | Marker:
    """The marker of driftbot's own carrying comment (the analysed SHA), or why there is none."""
    if req.carrier is None:
        return _refused(
            "no_comment",
            f"{who}: there is no driftbot comment on this pull request to commit from. Run the check first.",
        )
    if not req.carrier_is_bots:
        return _refused(
            "not_bot_comment",
            f"{who}: only the checkbox in driftbot's own comment commits a "
            "migration; this comment was written by someone else.",
        )
    recorded = read_marker(req.carrier, req.comment_id)
    if recorded is None:
        return _refused(
            "no_comment",
            f"{who}: driftbot's comment has no marker for {escape.code(req.comment_id)}: re-run the check.",
        )
    return recorded


def existing_refusal(plan: CommitPlan, existing: str | None) -> CommitOutcome | None:
    """Never overwrite a file: `existing` is the text at the path on the analysed commit (None: absent)."""
    if existing is None:
        return None
    where = f"{escape.code(plan.path)} already exists on {escape.code(plan.branch)}"
    if existing == plan.content:
        return _refused(
            "exists",
            f"{plan.who}: {escape.code(plan.path)} is already on {escape.code(plan.branch)} "
            "with this content; nothing to commit.",
            plan.path,
        )
    return _refused(
        "exists",
        f"{plan.who}: {where} with other content; driftbot does not overwrite files. Re-run the check.",
        plan.path,
    )


def push_refusal(plan: CommitPlan, status: int | None, description: str) -> CommitOutcome | None:
    """What GitHub's refusal of the commit means for the user; None: an error, not a refusal."""
    if status == 422 and "fast forward" in description.lower():
        return _refused(
            "stale",
            f"{plan.who}: the branch {escape.code(plan.branch)} moved while committing (new "
            "commits since driftbot analysed it). Re-run the check.",
            plan.path,
        )
    if status in (403, 404):
        if plan.head_repo != plan.request.repo:
            return plan.manual()
        return _refused(
            "push_denied",
            f"{plan.who}: this workflow's token may not push to "
            f"{escape.code(plan.branch)} ({escape.md(description)}). Give the commit job "
            "`permissions: contents: write`.",
            plan.path,
        )
    return None


def committed(plan: CommitPlan, new_sha: str, status_error: str | None) -> CommitOutcome:
    """The reply for a commit made; `status_error`: why the `driftbot` status could not be set."""
    status_note = (
        "The `driftbot` status on it is set to success from driftbot's verification."
        if status_error is None
        else f"The `driftbot` status could not be set ({escape.md(status_error)})."
    )
    reply = (
        f"Committed {escape.code(plan.path)} to {escape.code(plan.branch)} as `{new_sha[:12]}`, on top of "
        f"`{plan.parent[:12]}`, the commit driftbot analysed (requested by {plan.who}).\n\n{status_note} "
        "Commits made with the workflow token start no workflow runs: other required checks run again on "
        "your next push (or use a GitHub App token, see driftbot's README)."
    )
    return CommitOutcome(True, reply, new_sha, plan.path, "committed")


# ---------------------------------------------------------------- reading and committing


def read_request(
    gh: Github, event: IssueCommentEvent, *, repo: str, bot: Identity, comment_id: str, actor: str, carrier: str | None
) -> CommitRequest:
    """What the policy needs, from GitHub. `carrier`: the ticked comment's body, None for a command
    (then driftbot's newest comment carries the migration)."""
    number = event.issue_number
    carrier_is_bots = carrier is None or bot.owns(event.user)
    if carrier is None:
        found = find_sticky_comment(gh, repo, number, comment_id, author=bot)
        carrier = found[1] if found is not None else None
    gh_repo = gh.get_repo(repo)
    with api_errors(f"read {actor}'s permission"):
        try:
            permission = gh_repo.get_collaborator_permission(actor)
        except GithubException as e:
            if status_of(e) != 404:
                raise
            permission = "none"
    with api_errors(f"read pull request #{number}"):
        pr = gh_repo.get_pull(number)
        head = pr.head.repo
        pull = PullState(
            pr.state,
            pr.head.sha,
            pr.head.ref,
            head.full_name if head is not None else None,
            head.html_url if head is not None else None,
            bool(pr.maintainer_can_modify),
        )
    fork_pushable = (
        pull.head_repo not in (None, repo) and pull.maintainer_can_modify and _can_push(gh, pull.head_repo or "")
    )
    return CommitRequest(repo, number, actor, comment_id, carrier, carrier_is_bots, permission, pull, fork_pushable)


def _run(
    gh: Github,
    event: IssueCommentEvent,
    *,
    repo: str,
    bot: Identity,
    comment_id: str,
    actor: str,
    carrier: str | None,
    run_url: str | None,
) -> CommitOutcome:
    """Read what the policy needs, decide, then commit the approved plan and set the status."""
    decision = decide_commit(
        read_request(gh, event, repo=repo, bot=bot, comment_id=comment_id, actor=actor, carrier=carrier)
    )
    if isinstance(decision, CommitOutcome):
        return decision
    plan = decision
    refusal = existing_refusal(plan, _existing(gh, plan.head_repo, plan.path, plan.parent))
    if refusal is not None:
        return refusal
    try:
        new_sha = _commit(gh, plan.head_repo, plan.branch, plan.parent, plan.path, plan.content, plan.message)
    except GithubException as e:
        refusal = push_refusal(plan, status_of(e), describe(e))
        if refusal is not None:
            return refusal
        raise GitHubError(f"GitHub API: could not commit the migration: {describe(e)}") from e
    except API_ERRORS as e:
        raise GitHubError(f"GitHub API: could not commit the migration: {describe(e)}") from e
    # pushes with the workflow token start no workflow: driftbot reports its own verification
    status_error = None
    try:
        set_status(
            gh, repo, new_sha, "success", "Verified migration committed by driftbot; no drift left", target_url=run_url
        )
    except CannotSetStatus as e:
        status_error = e.reason
    log.info("committed %s to %s as %s", plan.path, plan.branch, new_sha)
    return committed(plan, new_sha, status_error)


def _can_push(gh: Github, full_name: str) -> bool:
    try:
        permissions = gh.get_repo(full_name).permissions
    except GithubException:
        return False
    return bool(permissions is not None and permissions.push)


def _existing(gh: Github, full_name: str, path: str, ref: str) -> str | None:
    """The text of `path` at `ref`, "" for a directory, None when absent."""
    with api_errors(f"look for {path}"):
        try:
            found = gh.get_repo(full_name).get_contents(path, ref=ref)
        except GithubException as e:
            if status_of(e) == 404:
                return None
            raise
    if isinstance(found, list):
        return ""
    return found.decoded_content.decode("utf-8", "replace")


def _commit(gh: Github, full_name: str, branch: str, parent_sha: str, path: str, content: str, message: str) -> str:
    target = gh.get_repo(full_name)
    blob = target.create_git_blob(content, "utf-8")
    parent = target.get_git_commit(parent_sha)
    tree = target.create_git_tree([InputGitTreeElement(path, "100644", "blob", sha=blob.sha)], base_tree=parent.tree)
    commit = target.create_git_commit(message, tree, [parent])
    ref = target.get_git_ref(f"heads/{branch}")
    # reading the ref completes it: its URL becomes `git/refs/...`, the one PATCH is documented for
    log.debug("moving %s from %s to %s", ref.ref, ref.object.sha, commit.sha)
    ref.edit(commit.sha, force=False)
    return str(commit.sha)


def _manual(
    who: str, head_repo: str, head_html: str | None, branch: str, path: str, content: str, can_modify: bool
) -> str:
    why = (
        "the pull request comes from a fork and this workflow's token can only write to this repository"
        if not can_modify
        else "this workflow's token cannot write to the fork, although maintainers may edit it "
        "(use a GitHub App or personal token with access to commit for you)"
    )
    link = create_file_link(head_html, branch, path, content) if head_html else None
    head = (
        f"{who}: driftbot cannot push to {escape.code(head_repo)} {escape.code(branch)}: {why}. "
        "To add the verified migration yourself:\n\n"
    )
    steps = []
    if link:
        steps.append(f"- [Create the file on your branch]({link}) (prefilled), then commit it.")
    block = f"{_ticks(content)}python\n{content if content.endswith(chr(10)) else content + chr(10)}{_ticks(content)}"
    steps.append(f"- Or create {escape.code(path)} with this content and push it:\n\n{block}")
    text = head + "\n".join(steps)
    if len(text) > MAX_COMMENT:
        text = (
            head
            + f"- Create {escape.code(path)} with the content of the migration in driftbot's comment above and push it."
        )
    return text
