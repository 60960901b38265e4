"""The fake's in-memory GitHub: users, tokens, repositories, issues and PRs, comments, statuses, git data.

Tests set the scene through these objects (`FakeGitHub.add_repo`, `Repo.commit`, ...) and
assert on them afterwards (`FakeGitHub.comments(...)`, `Repo.file(...)`). Handlers in
`app.py` read and change the same objects under the server's lock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fakegithub.gitstore import GitStore, Person, TreeEntry

PERMISSIONS = ("admin", "maintain", "write", "triage", "read")
KNOWN_IDS = {"github-actions[bot]": 41898282}  # github.com's, so events and the fake agree


class Clock:
    """Deterministic time: every write is one second after the previous one."""

    def __init__(self) -> None:
        self._now = datetime(2024, 1, 1, tzinfo=UTC)

    def tick(self) -> str:
        self._now += timedelta(seconds=1)
        return self.now()

    def now(self) -> str:
        return self._now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "Bot" for apps (login ends with "[bot]"); `github-actions` is an ordinary user


@dataclass
class Token:
    """What a token may do. `writable` None: every repository; else only those full names."""

    value: str
    login: str
    writable: set[str] | None = None
    installation: bool = True  # installation tokens (GITHUB_TOKEN, apps) get 403 on GET /user


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    user: str
    body: str
    created_at: str
    updated_at: str


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)
    pull: PullRequest | None = None


@dataclass
class PullRequest:
    number: int
    base_repo: Repo
    base_ref: str
    head_repo: Repo
    head_ref: str
    maintainer_can_modify: bool = False
    merged: bool = False

    @property
    def head_sha(self) -> str:
        """Follows the head branch, as GitHub's does."""
        return self.head_repo.ref(self.head_ref)

    @property
    def is_fork(self) -> bool:
        return self.head_repo is not self.base_repo


@dataclass
class Status:
    id: int
    sha: str
    state: str
    description: str | None
    target_url: str | None
    context: str
    creator: str
    created_at: str


@dataclass
class CheckRun:
    id: int
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    title: str | None
    summary: str | None
    text: str | None
    annotations: list[dict[str, object]]
    details_url: str | None
    external_id: str | None
    started_at: str
    completed_at: str | None


@dataclass
class Artifact:
    id: int
    name: str
    data: bytes  # the zip archive
    created_at: str
    expired: bool = False


@dataclass
class WorkflowRun:
    id: int
    head_sha: str
    head_branch: str
    head_repo: Repo
    event: str
    conclusion: str | None
    status: str
    created_at: str
    artifacts: list[Artifact] = field(default_factory=list)
    pull_numbers: list[int] = field(default_factory=list)


class Repo:
    def __init__(
        self, world: World, full_name: str, id: int, default_branch: str, private: bool, parent: Repo | None
    ) -> None:
        self.world = world
        self.full_name = full_name
        self.owner, self.name = full_name.split("/")
        self.id = id
        self.default_branch = default_branch
        self.private = private
        self.parent = parent
        self.refs: dict[str, str] = {}  # "refs/heads/main" -> sha
        self.permissions: dict[str, str] = {}  # login -> admin/maintain/write/triage/read
        self.issues: dict[int, Issue] = {}
        self.comments: dict[int, Comment] = {}
        self.statuses: list[Status] = []
        self.check_runs: dict[int, CheckRun] = {}
        self.runs: dict[int, WorkflowRun] = {}

    def __repr__(self) -> str:
        return f"Repo({self.full_name!r})"

    # -- scene setting
    def set_permission(self, login: str, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {PERMISSIONS}")
        self.world.user(login)
        self.permissions[login] = permission

    def commit(self, branch: str, files: dict[str, str | None], message: str = "change", author: str = "Dev") -> str:
        """Commit `files` (None deletes) on top of `branch` (created from nothing if new); the new SHA."""
        store = self.world.git
        parent = self.refs.get(f"refs/heads/{branch}")
        flat = store.flatten(store.commits[parent].tree) if parent else {}
        for path, content in files.items():
            if content is None:
                flat.pop(path, None)
            else:
                flat[path] = TreeEntry(path, "100644", "blob", store.put_blob(content.encode()))
        when = Person(author, f"{author.lower()}@example.invalid", self.world.clock.tick())
        sha = store.put_commit(store.build_tree(flat), (parent,) if parent else (), message, when, when)
        self.refs[f"refs/heads/{branch}"] = sha
        return sha

    def branch(self, new: str, from_branch: str) -> str:
        self.refs[f"refs/heads/{new}"] = sha = self.ref(from_branch)
        return sha

    # -- assertions
    def ref(self, branch: str) -> str:
        return self.refs[f"refs/heads/{branch}"]

    def file(self, branch_or_sha: str, path: str) -> str | None:
        sha = self.refs.get(f"refs/heads/{branch_or_sha}", branch_or_sha)
        data = self.world.git.file_at(sha, path)
        return None if data is None else data.decode()

    def statuses_for(self, sha: str, context: str | None = None) -> list[Status]:
        return [s for s in self.statuses if s.sha == sha and (context is None or s.context == context)]

    def open_issues(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.pull is None and i.state == "open"]


class World:
    """Everything the fake knows. Ids are unique across kinds, like GitHub's are in practice."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.git = GitStore()
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.repos: dict[str, Repo] = {}
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        return next(self._ids)

    def user(self, login: str) -> User:
        if login not in self.users:
            number = KNOWN_IDS.get(login) or self.next_id()
            self.users[login] = User(login, number, "Bot" if login.endswith("[bot]") else "User")
        return self.users[login]

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name]

    def all_comments(self) -> dict[int, Comment]:
        return {cid: c for r in self.repos.values() for cid, c in r.comments.items()}

    def all_check_runs(self) -> dict[int, tuple[Repo, CheckRun]]:
        return {rid: (r, run) for r in self.repos.values() for rid, run in r.check_runs.items()}
