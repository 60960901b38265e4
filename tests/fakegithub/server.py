"""`FakeGitHub`: the fake served over real HTTP on 127.0.0.1, with its scene-setting API and knobs."""

from __future__ import annotations

import io
import threading
import zipfile
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fakegithub.app import Exchange, Fault, Handlers, new_pull
from fakegithub.state import Artifact, Comment, Issue, Repo, Status, Token, WorkflowRun, World

BOT = "github-actions[bot]"
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class FakeGitHub:
    """A GitHub REST API (the routes driftbot uses) on a random local port.

    `url` is the `base_url` for PyGithub (`GITHUB_API_URL`); `token` is the workflow token
    of `github-actions[bot]`, which may write to every repository unless restricted.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = World()
        self.app = Handlers(self.world)
        self.token = "ghs_faketoken0000000000000000000000000"
        self.add_token(self.token, BOT)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeGitHub:
        self._server = make_server(self._host, self._port, self.app, threaded=True, request_handler=_QuietHandler)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, host: str) -> str:
        """The base URL as seen from elsewhere (a container: start with `FakeGitHub(host="0.0.0.0")`)."""
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ scene
    def add_token(self, value: str, login: str, *, writable: set[str] | None = None, installation: bool = True) -> str:
        """A token acting as `login`; `writable` limits writes to these repositories (else 403)."""
        self.world.user(login)
        self.world.tokens[value] = Token(value, login, writable, installation)
        return value

    def restrict_token(self, writable: set[str], token: str | None = None) -> None:
        """Writes outside `writable` answer 403 "Resource not accessible by integration" (a fork's token)."""
        self.world.tokens[token or self.token].writable = set(writable)

    def add_repo(
        self,
        full_name: str,
        files: dict[str, str] | None = None,
        *,
        default_branch: str = "main",
        private: bool = False,
    ) -> Repo:
        repo = Repo(self.world, full_name, self.world.next_id(), default_branch, private, None)
        self.world.user(repo.owner)
        self.world.repos[full_name] = repo
        repo.commit(default_branch, files or {"README.md": f"# {repo.name}\n"}, "Initial commit")
        return repo

    def fork(self, parent: Repo, full_name: str) -> Repo:
        repo = Repo(self.world, full_name, self.world.next_id(), parent.default_branch, parent.private, parent)
        self.world.user(repo.owner)
        repo.refs = dict(parent.refs)
        self.world.repos[full_name] = repo
        return repo

    def open_pull(
        self,
        base: Repo,
        head_ref: str,
        *,
        head: Repo | None = None,
        base_ref: str | None = None,
        user: str = "alice",
        title: str = "Change the models",
        body: str | None = None,
        maintainer_can_modify: bool = False,
    ) -> Issue:
        return new_pull(
            self.world,
            base,
            head or base,
            head_ref,
            base_ref or base.default_branch,
            user,
            title,
            body,
            maintainer_can_modify,
        )

    def add_comment(self, repo: Repo, issue_number: int, user: str, body: str) -> Comment:
        """A comment written by someone else (not through the API)."""
        self.world.user(user)
        now = self.world.clock.tick()
        comment = Comment(self.world.next_id(), repo.full_name, issue_number, user, body, now, now)
        repo.comments[comment.id] = comment
        return comment

    def add_issue(self, repo: Repo, title: str, body: str | None, user: str = BOT) -> Issue:
        self.world.user(user)
        now = self.world.clock.tick()
        number = max(repo.issues, default=0) + 1
        repo.issues[number] = issue = Issue(number, title, body, user, now, now)
        return issue

    def add_run(
        self,
        repo: Repo,
        *,
        head_repo: Repo | None = None,
        head_branch: str,
        event: str = "pull_request",
        conclusion: str | None = "success",
        artifacts: dict[str, dict[str, bytes]] | None = None,
        pull_numbers: list[int] | None = None,
    ) -> WorkflowRun:
        """A finished workflow run; `artifacts` maps an artifact name to its files (zipped here)."""
        head_repo = head_repo or repo
        now = self.world.clock.tick()
        run = WorkflowRun(
            self.world.next_id(),
            head_repo.ref(head_branch),
            head_branch,
            head_repo,
            event,
            conclusion,
            "completed" if conclusion else "in_progress",
            now,
            pull_numbers=list(pull_numbers or []),
        )
        for name, files in (artifacts or {}).items():
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for path, data in files.items():
                    z.writestr(path, data)
            run.artifacts.append(Artifact(self.world.next_id(), name, buf.getvalue(), now))
        repo.runs[run.id] = run
        return run

    # ------------------------------------------------------------------ knobs
    def fail_next(
        self, count: int = 1, status: int = 502, *, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """The next `count` matching requests answer `status` (a 5xx: GitHub having a bad minute)."""
        self.app.faults.append(
            Fault(count, status, {"message": "Server Error"}, method=method, path_contains=path_contains)
        )

    def rate_limit_next(
        self, count: int = 1, retry_after: int = 1, *, method: str | None = None, path_contains: str | None = None
    ) -> None:
        """The next `count` matching requests hit the secondary rate limit (403 with Retry-After)."""
        self.app.faults.append(
            Fault(
                count,
                403,
                {
                    "message": SECONDARY_RATE_LIMIT,
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                },
                {"Retry-After": str(retry_after)},
                method=method,
                path_contains=path_contains,
            )
        )

    # ------------------------------------------------------------------ assertions
    @property
    def violations(self) -> list[str]:
        """Requests or responses that broke the trimmed REST description (the fixture asserts none)."""
        return self.app.violations

    @property
    def exchanges(self) -> list[Exchange]:
        return self.app.exchanges

    def requests(self, method: str | None = None, path_contains: str = "") -> list[Exchange]:
        return [e for e in self.app.exchanges if (method is None or e.method == method) and path_contains in e.path]

    def comments(self, repo: Repo, issue_number: int, user: str | None = None) -> list[Comment]:
        return sorted(
            (c for c in repo.comments.values() if c.issue_number == issue_number and (user is None or c.user == user)),
            key=lambda c: c.id,
        )

    def statuses(self, repo: Repo, sha: str, context: str | None = None) -> list[Status]:
        return repo.statuses_for(sha, context)

    def describe(self) -> dict[str, Any]:
        return {
            "repos": sorted(self.world.repos),
            "requests": len(self.app.exchanges),
            "violations": len(self.violations),
        }
