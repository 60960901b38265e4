"""The fake's WSGI application: GitHub's REST routes over `state.World`, every exchange validated.

Each request is matched against the routes the trimmed REST description lists (endpoint
names are its path templates), answered from the in-memory world, and then the request and
the response are validated against the description. Violations are recorded, never raised
inside the server: the pytest fixture fails the test at teardown when there are any.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from fakegithub import spec
from fakegithub.gitstore import TreeEntry
from fakegithub.state import Artifact, CheckRun, Comment, Issue, PullRequest, Repo, Status, Token, WorkflowRun, World

MAX_BODY = 65_536
DOCS = "https://docs.github.com/rest"
VIEWER_QUERIES = {  # the viewer's fields driftbot may ask for, by query
    "query { viewer { login } }": ("login",),
    "query { viewer { login databaseId } }": ("login", "databaseId"),
}
ROLE_TO_LEGACY = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}

_R = "/repos/<owner>/<repo>"
ROUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (werkzeug rule, description path template, methods)
    ("/user", "/user", ("GET",)),
    (_R, "/repos/{owner}/{repo}", ("GET",)),
    (f"{_R}/pulls", "/repos/{owner}/{repo}/pulls", ("GET",)),
    (f"{_R}/pulls/<int:pull_number>", "/repos/{owner}/{repo}/pulls/{pull_number}", ("GET",)),
    (f"{_R}/issues", "/repos/{owner}/{repo}/issues", ("GET", "POST")),
    (f"{_R}/issues/<int:issue_number>", "/repos/{owner}/{repo}/issues/{issue_number}", ("GET", "PATCH")),
    (
        f"{_R}/issues/<int:issue_number>/comments",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        ("GET", "POST"),
    ),
    (
        f"{_R}/issues/comments/<int:comment_id>",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        ("GET", "PATCH", "DELETE"),
    ),
    (f"{_R}/statuses/<sha>", "/repos/{owner}/{repo}/statuses/{sha}", ("POST",)),
    (f"{_R}/commits/<path:ref>/statuses", "/repos/{owner}/{repo}/commits/{ref}/statuses", ("GET",)),
    (f"{_R}/commits/<path:ref>/status", "/repos/{owner}/{repo}/commits/{ref}/status", ("GET",)),
    (f"{_R}/check-runs", "/repos/{owner}/{repo}/check-runs", ("POST",)),
    (f"{_R}/check-runs/<int:check_run_id>", "/repos/{owner}/{repo}/check-runs/{check_run_id}", ("GET", "PATCH")),
    (
        f"{_R}/collaborators/<username>/permission",
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        ("GET",),
    ),
    (f"{_R}/contents/<path:path>", "/repos/{owner}/{repo}/contents/{path}", ("GET",)),
    (f"{_R}/git/blobs", "/repos/{owner}/{repo}/git/blobs", ("POST",)),
    (f"{_R}/git/blobs/<file_sha>", "/repos/{owner}/{repo}/git/blobs/{file_sha}", ("GET",)),
    (f"{_R}/git/trees", "/repos/{owner}/{repo}/git/trees", ("POST",)),
    (f"{_R}/git/trees/<tree_sha>", "/repos/{owner}/{repo}/git/trees/{tree_sha}", ("GET",)),
    (f"{_R}/git/commits", "/repos/{owner}/{repo}/git/commits", ("POST",)),
    (f"{_R}/git/commits/<commit_sha>", "/repos/{owner}/{repo}/git/commits/{commit_sha}", ("GET",)),
    (f"{_R}/git/ref/<path:ref>", "/repos/{owner}/{repo}/git/ref/{ref}", ("GET",)),
    (f"{_R}/git/refs", "/repos/{owner}/{repo}/git/refs", ("POST",)),
    (f"{_R}/git/refs/<path:ref>", "/repos/{owner}/{repo}/git/refs/{ref}", ("PATCH",)),
    (f"{_R}/actions/runs/<int:run_id>", "/repos/{owner}/{repo}/actions/runs/{run_id}", ("GET",)),
    (f"{_R}/actions/runs/<int:run_id>/artifacts", "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", ("GET",)),
    (
        f"{_R}/actions/artifacts/<int:artifact_id>/<archive_format>",
        "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
        ("GET",),
    ),
)
URL_MAP = Map(
    [Rule(rule, endpoint=template, methods=list(methods)) for rule, template, methods in ROUTES]
    + [
        Rule("/graphql", endpoint="graphql", methods=["POST"]),
        Rule("/_fake/artifacts/<int:artifact_id>.zip", endpoint="artifact-download", methods=["GET"]),
    ]
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "documentation_url": DOCS, "status": str(self.status)}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


@dataclass
class Fault:
    """A knob: the next `count` matching requests get this answer instead of the real one."""

    count: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        )


@dataclass(frozen=True)
class Exchange:
    """One request the fake answered (for assertions such as "retried 3 times")."""

    method: str
    path: str
    query: str
    status: int
    body: Any
    injected: bool


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a non-JSON body (artifact zip)


def _too_long(resource: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_BODY:
        raise ApiError(
            422,
            "Validation Failed",
            [
                {
                    "resource": resource,
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {MAX_BODY} characters)",
                }
            ],
        )


class FakeApp:
    def __init__(self, world: World) -> None:
        self.world = world
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        with self.lock:
            try:
                response = self.handle(request)
            except Exception:  # a bug in the fake: fail the test loudly, not as a retried 500
                self.violations.append(
                    f"the fake crashed on {request.method} {request.path}:\n{traceback.format_exc()}"
                )
                response = Response(json.dumps({"message": "fake crashed"}), status=500)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        raw = request.get_data()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
            self.violations.append(f"{request.method} {request.path}: body is not JSON: {raw[:200]!r}")
        api = request.host_url.rstrip("/")
        endpoint, values, injected = "", {}, True
        try:
            token = self._token(request)
            fault = next((f for f in self.faults if f.matches(request.method, request.path)), None)
            if fault is not None:
                fault.count -= 1
                reply = Reply(fault.status, fault.body, dict(fault.headers))
            else:
                try:
                    endpoint, values = URL_MAP.bind_to_environ(request.environ).match()
                except NotFound:
                    self.violations.append(f"{request.method} {request.path}: no such route in the trimmed description")
                    raise ApiError(404, "Not Found") from None
                except MethodNotAllowed:
                    self.violations.append(f"{request.method} {request.path}: method not in the trimmed description")
                    raise ApiError(405, "Method Not Allowed") from None
                if request.method != "GET" and endpoint not in ("graphql",) and "owner" in values:
                    self._check_write(token, f"{values['owner']}/{values['repo']}")
                injected = False
                if endpoint.startswith("/"):
                    self._validate_request(request, raw, endpoint, values)
                reply = self.dispatch(endpoint, values, request, payload, token, api)
        except ApiError as e:
            reply = Reply(e.status, e.body(), e.headers)
        body = reply.raw if reply.raw is not None else (b"" if reply.body is None else json.dumps(reply.body).encode())
        headers = {
            "Content-Type": "application/zip" if reply.raw is not None else "application/json; charset=utf-8",
            **reply.headers,
        }
        if reply.body is None and reply.raw is None:
            headers.pop("Content-Type")
        self.exchanges.append(
            Exchange(request.method, request.path, request.query_string.decode(), reply.status, payload, injected)
        )
        if not injected and endpoint.startswith("/") and not (reply.status == 422 and "(fake: " in str(reply.body)):
            self._validate_response(request, endpoint, values, reply.status, body, headers)
        return Response(body, status=reply.status, headers=headers)

    def _token(self, request: Request) -> Token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.world.tokens.get(value.strip()) if scheme.lower() in ("token", "bearer") else None
        if token is None and not request.path.startswith("/_fake/"):
            raise ApiError(401, "Bad credentials")
        return token or Token("", "")

    def _check_write(self, token: Token, full_name: str) -> None:
        if token.writable is not None and full_name not in token.writable:
            raise ApiError(403, "Resource not accessible by integration")

    @staticmethod
    def _spec_path(endpoint: str, values: dict[str, Any]) -> str:
        return endpoint.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in values.items()})

    def _validate_request(self, request: Request, raw: bytes, endpoint: str, values: dict[str, Any]) -> None:
        """Like GitHub, answer 422 to a request the description does not allow (and record it)."""
        problems = spec.validate_request(
            host_url=request.host_url,
            spec_path=self._spec_path(endpoint, values),
            method=request.method,
            query=list(request.args.items(multi=True)),
            headers=list(request.headers.items()),
            body=raw,
        )
        if problems:
            self.violations.extend(problems)
            raise ApiError(422, "Validation Failed (fake: " + problems[0][:300] + ")")

    def _validate_response(
        self, request: Request, endpoint: str, values: dict[str, Any], status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        operation = spec.rest_description()["paths"][endpoint][request.method.lower()]
        if status >= 400 and str(status) not in operation["responses"]:
            # GitHub answers any operation with 401/403/404/422 when it must, the description lists
            # only some: an undocumented error status must still carry GitHub's error shape
            validator = jsonschema.Draft4Validator(dict(spec.schema_of("basic-error")))
            self.violations += [
                f"error {status} to {request.method} {request.path}: {e.message}"
                for e in validator.iter_errors(json.loads(body or b"{}"))
            ]
            return
        if endpoint == "/repos/{owner}/{repo}/contents/{path}" and body.startswith(b"["):
            # a directory listing: the description's discriminator (on `type`) cannot select its
            # array option, so check the array against `content-directory` directly
            self.violations += [
                f"response {status} to GET {request.path}: {m}"
                for m in spec.validate_schema("content-directory", json.loads(body))
            ]
            return
        self.violations += spec.validate_response(
            host_url=request.host_url,
            spec_path=self._spec_path(endpoint, values),
            method=request.method,
            status=status,
            body=body,
            headers=list(headers.items()),
        )

    # ------------------------------------------------------------------ routing
    def dispatch(
        self, endpoint: str, values: dict[str, Any], request: Request, payload: Any, token: Token, api: str
    ) -> Reply:
        if endpoint == "graphql":
            return self.graphql(payload, token)
        if endpoint == "artifact-download":
            artifact = self._artifact(values["artifact_id"])[1]
            return Reply(200, raw=artifact.data)
        if endpoint == "/user":
            if token.installation:
                raise ApiError(403, "Resource not accessible by integration")
            return Reply(
                200, spec.conform("private-user", {**self.b_user(api, token.login), "user_view_type": "private"})
            )
        values = dict(values)
        repo = self.world.repos.get(f"{values.pop('owner')}/{values.pop('repo')}")
        if repo is None:
            raise ApiError(404, "Not Found")
        handler = getattr(
            self,
            "h_" + re.sub(r"\W+", "_", f"{request.method} {endpoint.removeprefix('/repos/{owner}/{repo}')}").strip("_"),
        )
        ctx = Ctx(api, repo, request, payload if isinstance(payload, dict) else {}, token)
        reply: Reply = handler(ctx, **values)
        return reply

    def graphql(self, payload: Any, token: Token) -> Reply:
        query = " ".join(str((payload or {}).get("query", "")).split())
        if query not in VIEWER_QUERIES:
            self.violations.append(f"GraphQL query not served by the fake: {query!r}")
            return Reply(200, {"errors": [{"message": "The fake GitHub serves only the viewer query"}]})
        viewer = {"login": token.login, "databaseId": self.world.user(token.login).id}
        return Reply(200, {"data": {"viewer": {k: viewer[k] for k in VIEWER_QUERIES[query]}}})

    # ------------------------------------------------------------------ payload builders
    def b_user(self, api: str, login: str) -> dict[str, Any]:
        user = self.world.user(login)
        return spec.conform(
            "simple-user",
            {
                "login": login,
                "id": user.id,
                "node_id": f"U_{user.id}",
                "type": user.type,
                "site_admin": False,
                "avatar_url": f"{api}/_fake/avatars/{user.id}",
                "gravatar_id": "",
                "url": f"{api}/users/{login}",
                "html_url": f"{api}/{login}",
            },
        )

    def b_repo(
        self, api: str, repo: Repo, token: Token | None = None, schema: str = "full-repository"
    ) -> dict[str, Any]:
        url = f"{api}/repos/{repo.full_name}"
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.b_user(api, repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": f"{api}/{repo.full_name}",
            "description": None,
            "fork": repo.parent is not None,
            "url": url,
            "default_branch": repo.default_branch,
            "clone_url": f"{api}/{repo.full_name}.git",
            "created_at": spec.PLACEHOLDER_TIME,
            "updated_at": spec.PLACEHOLDER_TIME,
            "pushed_at": spec.PLACEHOLDER_TIME,
            "statuses_url": f"{url}/statuses/{{sha}}",
            "issues_url": f"{url}/issues{{/number}}",
            "pulls_url": f"{url}/pulls{{/number}}",
            "git_refs_url": f"{url}/git/refs{{/sha}}",
        }
        if token is not None:
            push = token.writable is None or repo.full_name in token.writable
            data["permissions"] = {"admin": False, "maintain": False, "push": push, "triage": push, "pull": True}
        if schema == "full-repository" and repo.parent is not None:
            data["parent"] = self.b_repo(api, repo.parent, schema="repository")
            data["source"] = data["parent"]
        return spec.conform(schema, data)

    def b_issue(self, api: str, repo: Repo, issue: Issue) -> dict[str, Any]:
        url = f"{api}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.pull else "issues"
        data: dict[str, Any] = {
            "id": issue.number * 7919 + repo.id,
            "node_id": f"I_{repo.id}_{issue.number}",
            "url": url,
            "repository_url": f"{api}/repos/{repo.full_name}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{api}/{repo.full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.b_user(api, issue.user),
            "labels": [{"name": n} for n in issue.labels],
            "assignee": None,
            "milestone": None,
            "locked": False,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": self._association(repo, issue.user),
        }
        if issue.pull is not None:
            pulls = f"{api}/repos/{repo.full_name}/pulls/{issue.number}"
            data["pull_request"] = {
                "url": pulls,
                "html_url": data["html_url"],
                "diff_url": f"{data['html_url']}.diff",
                "patch_url": f"{data['html_url']}.patch",
                "merged_at": None,
            }
        return spec.conform("issue", data)

    def b_pull(self, api: str, repo: Repo, issue: Issue, schema: str = "pull-request") -> dict[str, Any]:
        pr = issue.pull
        assert pr is not None
        url = f"{api}/repos/{repo.full_name}/pulls/{issue.number}"
        html = f"{api}/{repo.full_name}/pull/{issue.number}"

        def side(r: Repo, ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{r.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.b_user(api, r.owner),
                "repo": self.b_repo(api, r, schema="repository"),
            }

        links = {
            k: {"href": v}
            for k, v in {
                "self": url,
                "html": html,
                "issue": f"{api}/repos/{repo.full_name}/issues/{issue.number}",
                "comments": f"{api}/repos/{repo.full_name}/issues/{issue.number}/comments",
                "review_comments": f"{url}/comments",
                "review_comment": f"{api}/repos/{repo.full_name}/pulls/comments{{/number}}",
                "commits": f"{url}/commits",
                "statuses": f"{api}/repos/{repo.full_name}/statuses/{pr.head_sha}",
            }.items()
        }
        data: dict[str, Any] = {
            "url": url,
            "id": issue.number * 7907 + repo.id,
            "node_id": f"PR_{repo.id}_{issue.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"]["href"],
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": links["review_comment"]["href"],
            "comments_url": links["comments"]["href"],
            "statuses_url": links["statuses"]["href"],
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self.b_user(api, issue.user),
            "body": issue.body,
            "labels": [],
            "milestone": None,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "draft": False,
            "head": side(pr.head_repo, pr.head_ref, pr.head_sha),
            "base": side(pr.base_repo, pr.base_ref, pr.base_repo.ref(pr.base_ref)),
            "_links": links,
            "author_association": self._association(repo, issue.user),
            "auto_merge": None,
            "merged": pr.merged,
            "mergeable": True,
            "mergeable_state": "clean",
            "merged_by": None,
            "maintainer_can_modify": pr.maintainer_can_modify,
            "comments": 0,
            "review_comments": 0,
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }
        return spec.conform(schema, data)

    def b_comment(self, api: str, repo: Repo, c: Comment) -> dict[str, Any]:
        issue = repo.issues[c.issue_number]
        kind = "pull" if issue.pull else "issues"
        return spec.conform(
            "issue-comment",
            {
                "id": c.id,
                "node_id": f"IC_{c.id}",
                "url": f"{api}/repos/{repo.full_name}/issues/comments/{c.id}",
                "html_url": f"{api}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
                "body": c.body,
                "user": self.b_user(api, c.user),
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "issue_url": f"{api}/repos/{repo.full_name}/issues/{c.issue_number}",
                "author_association": self._association(repo, c.user),
            },
        )

    def b_status(self, api: str, repo: Repo, s: Status, schema: str = "status") -> dict[str, Any]:
        return spec.conform(
            schema,
            {
                "url": f"{api}/repos/{repo.full_name}/statuses/{s.sha}",
                "avatar_url": None,
                "id": s.id,
                "node_id": f"SC_{s.id}",
                "state": s.state,
                "description": s.description,
                "target_url": s.target_url,
                "context": s.context,
                "created_at": s.created_at,
                "updated_at": s.created_at,
                "creator": self.b_user(api, s.creator),
            },
        )

    def b_check_run(self, api: str, repo: Repo, run: CheckRun) -> dict[str, Any]:
        url = f"{api}/repos/{repo.full_name}/check-runs/{run.id}"
        return spec.conform(
            "check-run",
            {
                "id": run.id,
                "node_id": f"CR_{run.id}",
                "head_sha": run.head_sha,
                "external_id": run.external_id,
                "url": url,
                "html_url": f"{api}/{repo.full_name}/runs/{run.id}",
                "details_url": run.details_url,
                "status": run.status,
                "conclusion": run.conclusion,
                "started_at": run.started_at,
                "completed_at": run.completed_at,
                "name": run.name,
                "check_suite": {"id": run.id + 1},
                "app": None,
                "pull_requests": [],
                "output": {
                    "title": run.title,
                    "summary": run.summary,
                    "text": run.text,
                    "annotations_count": len(run.annotations),
                    "annotations_url": f"{url}/annotations",
                },
            },
        )

    def b_git_commit(self, api: str, repo: Repo, sha: str) -> dict[str, Any]:
        c = self.world.git.commits[sha]
        base = f"{api}/repos/{repo.full_name}/git"

        def person(p: Any) -> dict[str, str]:
            return {"name": p.name, "email": p.email, "date": p.date}

        return spec.conform(
            "git-commit",
            {
                "sha": sha,
                "node_id": f"C_{sha}",
                "url": f"{base}/commits/{sha}",
                "html_url": f"{api}/{repo.full_name}/commit/{sha}",
                "author": person(c.author),
                "committer": person(c.committer),
                "message": c.message,
                "tree": {"sha": c.tree, "url": f"{base}/trees/{c.tree}"},
                "parents": [
                    {"sha": p, "url": f"{base}/commits/{p}", "html_url": f"{api}/{repo.full_name}/commit/{p}"}
                    for p in c.parents
                ],
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
        )

    def b_tree(self, api: str, repo: Repo, sha: str, recursive: bool = False) -> dict[str, Any]:
        base = f"{api}/repos/{repo.full_name}/git"
        git = self.world.git
        if recursive:
            entries: list[TreeEntry] = []

            def walk(tree: str, prefix: str) -> None:
                for e in git.trees[tree]:
                    entries.append(TreeEntry(prefix + e.path, e.mode, e.type, e.sha))
                    if e.type == "tree":
                        walk(e.sha, f"{prefix}{e.path}/")

            walk(sha, "")
        else:
            entries = list(git.trees[sha])
        items = []
        for e in entries:
            item: dict[str, Any] = {
                "path": e.path,
                "mode": e.mode,
                "type": e.type,
                "sha": e.sha,
                "url": f"{base}/{'trees' if e.type == 'tree' else 'blobs'}/{e.sha}",
            }
            if e.type == "blob":
                item["size"] = len(git.blobs[e.sha])
            items.append(item)
        return spec.conform("git-tree", {"sha": sha, "url": f"{base}/trees/{sha}", "tree": items, "truncated": False})

    def b_ref(self, api: str, repo: Repo, ref: str) -> dict[str, Any]:
        sha = repo.refs[ref]
        return spec.conform(
            "git-ref",
            {
                "ref": ref,
                "node_id": f"REF_{repo.id}_{ref}",
                "url": f"{api}/repos/{repo.full_name}/git/{ref}",
                "object": {"type": "commit", "sha": sha, "url": f"{api}/repos/{repo.full_name}/git/commits/{sha}"},
            },
        )

    def b_run(self, api: str, repo: Repo, run: WorkflowRun) -> dict[str, Any]:
        url = f"{api}/repos/{repo.full_name}/actions/runs/{run.id}"
        pulls = [
            {
                "id": n,
                "number": n,
                "url": f"{api}/repos/{repo.full_name}/pulls/{n}",
                "head": {
                    "ref": run.head_branch,
                    "sha": run.head_sha,
                    "repo": {
                        "id": run.head_repo.id,
                        "url": f"{api}/repos/{run.head_repo.full_name}",
                        "name": run.head_repo.name,
                    },
                },
                "base": {
                    "ref": repo.default_branch,
                    "sha": repo.ref(repo.default_branch),
                    "repo": {"id": repo.id, "url": f"{api}/repos/{repo.full_name}", "name": repo.name},
                },
            }
            for n in run.pull_numbers
        ]
        return spec.conform(
            "workflow-run",
            {
                "id": run.id,
                "node_id": f"WFR_{run.id}",
                "name": "driftbot",
                "head_branch": run.head_branch,
                "head_sha": run.head_sha,
                "path": ".github/workflows/driftbot.yml",
                "run_number": run.id % 1000,
                "run_attempt": 1,
                "display_title": "driftbot",
                "event": run.event,
                "status": run.status,
                "conclusion": run.conclusion,
                "workflow_id": 1,
                "url": url,
                "html_url": f"{api}/{repo.full_name}/actions/runs/{run.id}",
                "pull_requests": pulls,
                "created_at": run.created_at,
                "updated_at": run.created_at,
                "jobs_url": f"{url}/jobs",
                "logs_url": f"{url}/logs",
                "check_suite_url": f"{url}/check-suite",
                "artifacts_url": f"{url}/artifacts",
                "cancel_url": f"{url}/cancel",
                "rerun_url": f"{url}/rerun",
                "workflow_url": f"{api}/repos/{repo.full_name}/actions/workflows/1",
                "head_commit": None,
                "repository": self.b_repo(api, repo, schema="minimal-repository"),
                "head_repository": self.b_repo(api, run.head_repo, schema="minimal-repository"),
            },
        )

    def b_artifact(self, api: str, repo: Repo, run: WorkflowRun, a: Artifact) -> dict[str, Any]:
        url = f"{api}/repos/{repo.full_name}/actions/artifacts/{a.id}"
        return spec.conform(
            "artifact",
            {
                "id": a.id,
                "node_id": f"A_{a.id}",
                "name": a.name,
                "size_in_bytes": len(a.data),
                "url": url,
                "archive_download_url": f"{url}/zip",
                "expired": a.expired,
                "created_at": a.created_at,
                "expires_at": "2099-01-01T00:00:00Z",
                "updated_at": a.created_at,
                "workflow_run": {
                    "id": run.id,
                    "repository_id": repo.id,
                    "head_repository_id": run.head_repo.id,
                    "head_branch": run.head_branch,
                    "head_sha": run.head_sha,
                },
            },
        )

    def _association(self, repo: Repo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return "COLLABORATOR" if login in repo.permissions else "NONE"

    def _artifact(self, artifact_id: int) -> tuple[WorkflowRun, Artifact]:
        for r in self.world.repos.values():
            for run in r.runs.values():
                for a in run.artifacts:
                    if a.id == artifact_id:
                        return run, a
        raise ApiError(404, "Not Found")


@dataclass
class Ctx:
    api: str
    repo: Repo
    request: Request
    body: dict[str, Any]
    token: Token

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.request.args.get(name, default)


def _paginate(ctx: Ctx, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """GitHub's pagination: `per_page` (default 30, at most 100), `page`, and a `Link` header."""
    per_page = max(1, min(int(ctx.arg("per_page") or 30), 100))
    page = max(1, int(ctx.arg("page") or 1))
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(n: int) -> str:
        query = dict(ctx.request.args.items())
        query.update(page=str(n), per_page=str(per_page))
        return f"<{ctx.api}{ctx.request.path}?{urllib.parse.urlencode(query)}>"

    rels = []
    if page < last:
        rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
    if page > 1:
        rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
    return chunk, ({"Link": ", ".join(rels)} if rels else {})


class Handlers(FakeApp):
    """One method per (method, route): `h_<METHOD>_<route with non-word runs as _>`."""

    def _issue(self, ctx: Ctx, number: int) -> Issue:
        issue = ctx.repo.issues.get(number)
        if issue is None:
            raise ApiError(404, "Not Found")
        return issue

    def _comment(self, ctx: Ctx, comment_id: int) -> Comment:
        comment = ctx.repo.comments.get(comment_id)
        if comment is None:
            raise ApiError(404, "Not Found")
        return comment

    # -- repository, pulls
    def h_GET(self, ctx: Ctx) -> Reply:
        return Reply(200, self.b_repo(ctx.api, ctx.repo, ctx.token))

    def h_GET_pulls(self, ctx: Ctx) -> Reply:
        state = ctx.arg("state", "open")
        pulls = [i for i in ctx.repo.issues.values() if i.pull is not None and state in ("all", i.state)]
        if head := ctx.arg("head"):
            pulls = [i for i in pulls if i.pull and f"{i.pull.head_repo.owner}:{i.pull.head_ref}" == head]
        if base := ctx.arg("base"):
            pulls = [i for i in pulls if i.pull and i.pull.base_ref == base]
        pulls.sort(key=lambda i: i.number, reverse=ctx.arg("direction", "desc") == "desc")
        chunk, headers = _paginate(ctx, pulls)
        return Reply(200, [self.b_pull(ctx.api, ctx.repo, i, "pull-request-simple") for i in chunk], headers)

    def h_GET_pulls_pull_number(self, ctx: Ctx, pull_number: int) -> Reply:
        issue = self._issue(ctx, pull_number)
        if issue.pull is None:
            raise ApiError(404, "Not Found")
        return Reply(200, self.b_pull(ctx.api, ctx.repo, issue))

    # -- issues
    def h_GET_issues(self, ctx: Ctx) -> Reply:
        state = ctx.arg("state", "open")
        issues = [i for i in ctx.repo.issues.values() if state in ("all", i.state)]
        if creator := ctx.arg("creator"):
            issues = [i for i in issues if i.user == creator]
        if labels := ctx.arg("labels"):
            issues = [i for i in issues if set(labels.split(",")) <= set(i.labels)]
        issues.sort(key=lambda i: i.number, reverse=ctx.arg("direction", "desc") == "desc")
        chunk, headers = _paginate(ctx, issues)
        return Reply(200, [self.b_issue(ctx.api, ctx.repo, i) for i in chunk], headers)

    def h_POST_issues(self, ctx: Ctx) -> Reply:
        body = ctx.body.get("body")
        _too_long("Issue", body)
        now = self.world.clock.tick()
        number = max(ctx.repo.issues, default=0) + 1
        issue = Issue(
            number,
            str(ctx.body["title"]),
            body,
            ctx.token.login,
            now,
            now,
            labels=[str(x) if not isinstance(x, dict) else str(x["name"]) for x in ctx.body.get("labels", [])],
        )
        ctx.repo.issues[number] = issue
        return Reply(201, self.b_issue(ctx.api, ctx.repo, issue))

    def h_GET_issues_issue_number(self, ctx: Ctx, issue_number: int) -> Reply:
        return Reply(200, self.b_issue(ctx.api, ctx.repo, self._issue(ctx, issue_number)))

    def h_PATCH_issues_issue_number(self, ctx: Ctx, issue_number: int) -> Reply:
        issue = self._issue(ctx, issue_number)
        if "body" in ctx.body:
            _too_long("Issue", ctx.body["body"])
            issue.body = ctx.body["body"]
        if "title" in ctx.body:
            issue.title = str(ctx.body["title"])
        if "labels" in ctx.body:
            issue.labels = [str(x) for x in ctx.body["labels"]]
        if state := ctx.body.get("state"):
            issue.state = state
            issue.closed_at = self.world.clock.now() if state == "closed" else None
            issue.state_reason = ctx.body.get("state_reason") or ("completed" if state == "closed" else "reopened")
        issue.updated_at = self.world.clock.tick()
        return Reply(200, self.b_issue(ctx.api, ctx.repo, issue))

    # -- issue comments
    def h_GET_issues_issue_number_comments(self, ctx: Ctx, issue_number: int) -> Reply:
        self._issue(ctx, issue_number)
        comments = sorted((c for c in ctx.repo.comments.values() if c.issue_number == issue_number), key=lambda c: c.id)
        chunk, headers = _paginate(ctx, comments)
        return Reply(200, [self.b_comment(ctx.api, ctx.repo, c) for c in chunk], headers)

    def h_POST_issues_issue_number_comments(self, ctx: Ctx, issue_number: int) -> Reply:
        self._issue(ctx, issue_number)
        body = str(ctx.body.get("body", ""))
        _too_long("IssueComment", body)
        now = self.world.clock.tick()
        comment = Comment(self.world.next_id(), ctx.repo.full_name, issue_number, ctx.token.login, body, now, now)
        ctx.repo.comments[comment.id] = comment
        return Reply(
            201,
            self.b_comment(ctx.api, ctx.repo, comment),
            {"Location": f"{ctx.api}/repos/{ctx.repo.full_name}/issues/comments/{comment.id}"},
        )

    def h_GET_issues_comments_comment_id(self, ctx: Ctx, comment_id: int) -> Reply:
        return Reply(200, self.b_comment(ctx.api, ctx.repo, self._comment(ctx, comment_id)))

    def h_PATCH_issues_comments_comment_id(self, ctx: Ctx, comment_id: int) -> Reply:
        comment = self._comment(ctx, comment_id)
        body = str(ctx.body.get("body", ""))
        _too_long("IssueComment", body)
        if comment.user != ctx.token.login and ctx.repo.permissions.get(ctx.token.login) not in (
            "admin",
            "maintain",
            "write",
        ):
            raise ApiError(403, "You cannot edit this comment")
        comment.body, comment.updated_at = body, self.world.clock.tick()
        return Reply(200, self.b_comment(ctx.api, ctx.repo, comment))

    def h_DELETE_issues_comments_comment_id(self, ctx: Ctx, comment_id: int) -> Reply:
        self._comment(ctx, comment_id)
        del ctx.repo.comments[comment_id]
        return Reply(204)

    # -- statuses and check runs
    def h_POST_statuses_sha(self, ctx: Ctx, sha: str) -> Reply:
        if sha not in self.world.git.commits:
            raise ApiError(422, "No commit found for SHA: " + sha)
        description = ctx.body.get("description")
        if description is not None and len(description) > 140:
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        status = Status(
            self.world.next_id(),
            sha,
            str(ctx.body["state"]),
            description,
            ctx.body.get("target_url"),
            str(ctx.body.get("context") or "default"),
            ctx.token.login,
            self.world.clock.tick(),
        )
        ctx.repo.statuses.append(status)
        return Reply(201, self.b_status(ctx.api, ctx.repo, status))

    def _resolve_ref(self, ctx: Ctx, ref: str) -> str:
        for candidate in (ref, f"refs/heads/{ref}", f"refs/{ref}"):
            if candidate in ctx.repo.refs:
                return ctx.repo.refs[candidate]
        if ref in self.world.git.commits:
            return ref
        raise ApiError(404, "No commit found for SHA: " + ref)

    def h_GET_commits_ref_statuses(self, ctx: Ctx, ref: str) -> Reply:
        sha = self._resolve_ref(ctx, ref)
        statuses = sorted(ctx.repo.statuses_for(sha), key=lambda s: s.id, reverse=True)
        chunk, headers = _paginate(ctx, statuses)
        return Reply(200, [self.b_status(ctx.api, ctx.repo, s) for s in chunk], headers)

    def h_GET_commits_ref_status(self, ctx: Ctx, ref: str) -> Reply:
        sha = self._resolve_ref(ctx, ref)
        latest: dict[str, Status] = {}
        for s in sorted(ctx.repo.statuses_for(sha), key=lambda s: s.id):
            latest[s.context] = s
        states = {s.state for s in latest.values()}
        state = (
            "failure"
            if states & {"failure", "error"}
            else "pending"
            if "pending" in states or not states
            else "success"
        )
        return Reply(
            200,
            spec.conform(
                "combined-commit-status",
                {
                    "state": state,
                    "sha": sha,
                    "total_count": len(latest),
                    "statuses": [self.b_status(ctx.api, ctx.repo, s, "simple-commit-status") for s in latest.values()],
                    "repository": self.b_repo(ctx.api, ctx.repo, schema="minimal-repository"),
                    "commit_url": f"{ctx.api}/repos/{ctx.repo.full_name}/commits/{sha}",
                    "url": f"{ctx.api}/repos/{ctx.repo.full_name}/commits/{sha}/status",
                },
            ),
        )

    def h_POST_check_runs(self, ctx: Ctx) -> Reply:
        b, now = ctx.body, self.world.clock.tick()
        output = b.get("output") or {}
        run = CheckRun(
            self.world.next_id(),
            str(b["head_sha"]),
            str(b["name"]),
            str(b.get("status", "queued")),
            b.get("conclusion"),
            output.get("title"),
            output.get("summary"),
            output.get("text"),
            list(output.get("annotations", [])),
            b.get("details_url"),
            b.get("external_id"),
            str(b.get("started_at", now)),
            b.get("completed_at"),
        )
        if run.conclusion is not None:
            run.status, run.completed_at = "completed", run.completed_at or now
        ctx.repo.check_runs[run.id] = run
        return Reply(201, self.b_check_run(ctx.api, ctx.repo, run))

    def h_GET_check_runs_check_run_id(self, ctx: Ctx, check_run_id: int) -> Reply:
        run = ctx.repo.check_runs.get(check_run_id)
        if run is None:
            raise ApiError(404, "Not Found")
        return Reply(200, self.b_check_run(ctx.api, ctx.repo, run))

    def h_PATCH_check_runs_check_run_id(self, ctx: Ctx, check_run_id: int) -> Reply:
        run = ctx.repo.check_runs.get(check_run_id)
        if run is None:
            raise ApiError(404, "Not Found")
        b = ctx.body
        for name in ("name", "status", "conclusion", "details_url", "external_id", "completed_at"):
            if name in b:
                setattr(run, name, b[name])
        if output := b.get("output"):
            run.title = output.get("title", run.title)
            run.summary = output.get("summary", run.summary)
            run.text = output.get("text", run.text)
            run.annotations += list(output.get("annotations", []))  # GitHub appends annotations
        if run.conclusion is not None:
            run.status, run.completed_at = "completed", run.completed_at or self.world.clock.tick()
        return Reply(200, self.b_check_run(ctx.api, ctx.repo, run))

    # -- collaborators, contents
    def h_GET_collaborators_username_permission(self, ctx: Ctx, username: str) -> Reply:
        if username not in self.world.users:
            raise ApiError(404, "Not Found")
        role = ctx.repo.permissions.get(username)
        if username == ctx.repo.owner:
            role = "admin"
        legacy = ROLE_TO_LEGACY[role] if role else ("none" if ctx.repo.private else "read")
        user = {
            **self.b_user(ctx.api, username),
            "permissions": {
                "pull": legacy != "none",
                "triage": role in ("admin", "maintain", "write", "triage"),
                "push": legacy in ("admin", "write"),
                "maintain": role in ("admin", "maintain"),
                "admin": role == "admin",
            },
            "role_name": role or legacy,
        }
        return Reply(
            200,
            spec.conform(
                "repository-collaborator-permission", {"permission": legacy, "role_name": role or legacy, "user": user}
            ),
        )

    def h_GET_contents_path(self, ctx: Ctx, path: str) -> Reply:
        sha = self._resolve_ref(ctx, ctx.arg("ref") or ctx.repo.default_branch)
        git = self.world.git
        flat = git.flatten(git.commits[sha].tree)
        url = f"{ctx.api}/repos/{ctx.repo.full_name}/contents"
        path = path.strip("/")

        def entry(p: str, e: TreeEntry | None, kind: str, obj_sha: str, size: int) -> dict[str, Any]:
            git_url = f"{ctx.api}/repos/{ctx.repo.full_name}/git/{'blobs' if kind == 'file' else 'trees'}/{obj_sha}"
            html = f"{ctx.api}/{ctx.repo.full_name}/blob/{sha}/{p}"
            return {
                "type": kind,
                "size": size,
                "name": p.rsplit("/", 1)[-1],
                "path": p,
                "sha": obj_sha,
                "url": f"{url}/{p}?ref={sha}",
                "git_url": git_url,
                "html_url": html,
                "download_url": f"{ctx.api}/_fake/raw/{ctx.repo.full_name}/{sha}/{p}" if kind == "file" else None,
                "_links": {"self": f"{url}/{p}", "git": git_url, "html": html},
            }

        if path in flat:
            e = flat[path]
            data = git.blobs[e.sha]
            return Reply(
                200,
                spec.conform(
                    "content-file",
                    {
                        **entry(path, e, "file", e.sha, len(data)),
                        "encoding": "base64",
                        "content": base64.encodebytes(data).decode(),
                    },
                ),
            )
        below = {p: e for p, e in flat.items() if p.startswith(path + "/")}
        if not below:
            raise ApiError(404, "Not Found")
        children: dict[str, dict[str, Any]] = {}
        for p, e in below.items():
            name = p[len(path) + 1 :].split("/", 1)[0]
            child = f"{path}/{name}"
            if child in flat:
                children[child] = entry(child, e, "file", e.sha, len(git.blobs[e.sha]))
            else:
                children.setdefault(child, entry(child, None, "dir", "0" * 40, 0))
        return Reply(200, [spec.conform("content-directory", [c])[0] for c in children.values()])

    # -- git data
    def h_POST_git_blobs(self, ctx: Ctx) -> Reply:
        content = str(ctx.body["content"])
        encoding = ctx.body.get("encoding", "utf-8")
        data = base64.b64decode(content) if encoding == "base64" else content.encode()
        sha = self.world.git.put_blob(data)
        return Reply(
            201,
            spec.conform("short-blob", {"url": f"{ctx.api}/repos/{ctx.repo.full_name}/git/blobs/{sha}", "sha": sha}),
        )

    def h_GET_git_blobs_file_sha(self, ctx: Ctx, file_sha: str) -> Reply:
        data = self.world.git.blobs.get(file_sha)
        if data is None:
            raise ApiError(404, "Not Found")
        return Reply(
            200,
            spec.conform(
                "blob",
                {
                    "sha": file_sha,
                    "node_id": f"B_{file_sha}",
                    "size": len(data),
                    "encoding": "base64",
                    "url": f"{ctx.api}/repos/{ctx.repo.full_name}/git/blobs/{file_sha}",
                    "content": base64.encodebytes(data).decode(),
                },
            ),
        )

    def h_POST_git_trees(self, ctx: Ctx) -> Reply:
        git = self.world.git
        base = ctx.body.get("base_tree")
        if base is not None and base not in git.trees:
            raise ApiError(422, "Invalid tree info" if base in git.commits else "base_tree is not a valid tree oid")
        flat = git.flatten(base) if base else {}
        for item in ctx.body["tree"]:
            path, mode, kind = str(item["path"]), str(item["mode"]), str(item.get("type", "blob"))
            if item.get("content") is not None:
                sha: str | None = git.put_blob(str(item["content"]).encode())
            else:
                sha = item.get("sha")
            if sha is None:
                flat.pop(path, None)
                continue
            if kind == "blob" and sha not in git.blobs:
                raise ApiError(
                    422,
                    "Invalid tree info",
                    [{"resource": "Tree", "code": "invalid", "field": "sha", "message": "object not found"}],
                )
            flat[path] = TreeEntry(path, mode, kind, sha)
        return Reply(201, self.b_tree(ctx.api, ctx.repo, git.build_tree(flat)))

    def h_GET_git_trees_tree_sha(self, ctx: Ctx, tree_sha: str) -> Reply:
        if tree_sha not in self.world.git.trees:
            raise ApiError(404, "Not Found")
        return Reply(
            200,
            self.b_tree(ctx.api, ctx.repo, tree_sha, recursive=ctx.arg("recursive") not in (None, "", "0", "false")),
        )

    def h_POST_git_commits(self, ctx: Ctx) -> Reply:
        from fakegithub.gitstore import Person

        git, b = self.world.git, ctx.body
        if b["tree"] not in git.trees:
            raise ApiError(422, "Tree SHA does not exist")
        parents = tuple(str(p) for p in b.get("parents", []))
        if any(p not in git.commits for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        now = self.world.clock.tick()
        login = ctx.token.login

        def person(key: str, fallback: Person) -> Person:
            p = b.get(key) or {}
            return Person(
                str(p.get("name", fallback.name)),
                str(p.get("email", fallback.email)),
                str(p.get("date", fallback.date)),
            )

        default = Person(login, f"{self.world.user(login).id}+{login}@users.noreply.github.com", now)
        author = person("author", default)
        sha = git.put_commit(str(b["tree"]), parents, str(b["message"]), author, person("committer", author))
        return Reply(201, self.b_git_commit(ctx.api, ctx.repo, sha))

    def h_GET_git_commits_commit_sha(self, ctx: Ctx, commit_sha: str) -> Reply:
        if commit_sha not in self.world.git.commits:
            raise ApiError(404, "Not Found")
        return Reply(200, self.b_git_commit(ctx.api, ctx.repo, commit_sha))

    def h_GET_git_ref_ref(self, ctx: Ctx, ref: str) -> Reply:
        full = f"refs/{ref}"
        if full not in ctx.repo.refs:
            raise ApiError(404, "Not Found")
        return Reply(200, self.b_ref(ctx.api, ctx.repo, full))

    def h_POST_git_refs(self, ctx: Ctx) -> Reply:
        ref, sha = str(ctx.body["ref"]), str(ctx.body["sha"])
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes")
        if ref in ctx.repo.refs:
            raise ApiError(422, "Reference already exists")
        if sha not in self.world.git.commits:
            raise ApiError(422, "Object does not exist")
        ctx.repo.refs[ref] = sha
        return Reply(201, self.b_ref(ctx.api, ctx.repo, ref))

    def h_PATCH_git_refs_ref(self, ctx: Ctx, ref: str) -> Reply:
        full, sha = f"refs/{ref}", str(ctx.body["sha"])
        if full not in ctx.repo.refs:
            raise ApiError(422, "Reference does not exist")
        if sha not in self.world.git.commits:
            raise ApiError(422, "Object does not exist")
        if not ctx.body.get("force", False) and not self.world.git.is_ancestor(ctx.repo.refs[full], sha):
            raise ApiError(422, "Update is not a fast forward")
        ctx.repo.refs[full] = sha
        return Reply(200, self.b_ref(ctx.api, ctx.repo, full))

    # -- actions
    def _run(self, ctx: Ctx, run_id: int) -> WorkflowRun:
        run = ctx.repo.runs.get(run_id)
        if run is None:
            raise ApiError(404, "Not Found")
        return run

    def h_GET_actions_runs_run_id(self, ctx: Ctx, run_id: int) -> Reply:
        return Reply(200, self.b_run(ctx.api, ctx.repo, self._run(ctx, run_id)))

    def h_GET_actions_runs_run_id_artifacts(self, ctx: Ctx, run_id: int) -> Reply:
        run = self._run(ctx, run_id)
        artifacts = [a for a in run.artifacts if ctx.arg("name") in (None, a.name)]
        chunk, headers = _paginate(ctx, artifacts)
        return Reply(
            200,
            {"total_count": len(artifacts), "artifacts": [self.b_artifact(ctx.api, ctx.repo, run, a) for a in chunk]},
            headers,
        )

    def h_GET_actions_artifacts_artifact_id_archive_format(
        self, ctx: Ctx, artifact_id: int, archive_format: str
    ) -> Reply:
        _run, artifact = self._artifact(artifact_id)
        if artifact.expired:
            raise ApiError(410, "Artifact has expired")
        if archive_format != "zip":
            raise ApiError(404, "Not Found")
        return Reply(302, None, {"Location": f"{ctx.api}/_fake/artifacts/{artifact.id}.zip"})


def new_pull(
    world: World,
    base: Repo,
    head: Repo,
    head_ref: str,
    base_ref: str,
    user: str,
    title: str,
    body: str | None,
    maintainer_can_modify: bool,
) -> Issue:
    now = world.clock.tick()
    number = max(base.issues, default=0) + 1
    world.user(user)
    issue = Issue(number, title, body, user, now, now)
    issue.pull = PullRequest(number, base, base_ref, head, head_ref, maintainer_can_modify)
    base.issues[number] = issue
    return issue
