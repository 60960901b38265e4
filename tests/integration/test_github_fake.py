"""The fake GitHub itself: it must catch what GitHub would reject and serve what GitHub serves."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
import requests
from fakegithub import FakeGitHub


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    """A fake whose violations the test inspects itself (the `fake_github` fixture would fail on them)."""
    with FakeGitHub() as f:
        yield f


def call(fake: FakeGitHub, method: str, path: str, token: str | None = None, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"token {token or fake.token}", "Accept": "application/vnd.github+json"}
    return requests.request(method, fake.url + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_pagination_uses_link_headers_30_by_default_100_at_most(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop")
    repo.branch("f", "main")
    pr = fake.open_pull(repo, "f")
    for i in range(35):
        fake.add_comment(repo, pr.number, "alice", f"c{i}")
    first = call(fake, "GET", f"/repos/octo/shop/issues/{pr.number}/comments")
    assert len(first.json()) == 30
    assert first.links["next"]["url"].endswith("page=2&per_page=30") and first.links["last"]["url"].endswith(
        "page=2&per_page=30"
    )
    second = requests.get(first.links["next"]["url"], headers={"Authorization": f"token {fake.token}"}, timeout=10)
    assert [c["body"] for c in second.json()] == [f"c{i}" for i in range(30, 35)]
    assert "next" not in second.links and "prev" in second.links
    capped = call(fake, "GET", f"/repos/octo/shop/issues/{pr.number}/comments?per_page=500")
    assert len(capped.json()) == 35 and "Link" not in capped.headers
    assert fake.violations == []


def test_unknown_route_and_bad_request_are_violations(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop")
    assert call(fake, "GET", "/repos/octo/shop/hooks").status_code == 404
    bad = call(fake, "POST", f"/repos/octo/shop/statuses/{repo.ref('main')}", json={"state": "green"})
    assert bad.status_code == 422
    assert repo.statuses == []
    assert len(fake.violations) == 2
    assert "no such route" in fake.violations[0] and "'green' is not one of" in fake.violations[1]


def test_a_response_that_breaks_the_description_is_a_violation(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop")
    original = fake.app.b_status

    def without_creator(api, r, s, schema="status"):  # type: ignore[no-untyped-def]
        data = original(api, r, s, schema)
        del data["creator"]
        return data

    fake.app.b_status = without_creator  # type: ignore[method-assign]
    call(
        fake, "POST", f"/repos/octo/shop/statuses/{repo.ref('main')}", json={"state": "success", "context": "driftbot"}
    )
    assert len(fake.violations) == 1 and "'creator' is a required property" in fake.violations[0]


def test_unsupported_graphql_and_bad_token(fake: FakeGitHub) -> None:
    assert call(fake, "POST", "/graphql", json={"query": "{ viewer { email } }"}).json()["errors"]
    assert "GraphQL query not served" in fake.violations[0]
    assert call(fake, "GET", "/repos/x/y", token="wrong").status_code == 401


def test_installation_tokens_cannot_get_user(fake: FakeGitHub) -> None:
    assert call(fake, "GET", "/user").status_code == 403
    fake.add_token("ghp_alice", "alice", installation=False)
    assert call(fake, "GET", "/user", token="ghp_alice").json()["login"] == "alice"
    assert fake.violations == []


def test_refs_move_only_by_fast_forward_unless_forced(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop", {"a": "1\n"})
    base = repo.ref("main")
    ahead = repo.commit("main", {"a": "2\n"})
    side = repo.commit("side", {"b": "x\n"})  # unrelated history
    moved = call(fake, "PATCH", "/repos/octo/shop/git/refs/heads/main", json={"sha": side, "force": False})
    assert moved.status_code == 422 and moved.json()["message"] == "Update is not a fast forward"
    assert repo.ref("main") == ahead
    assert (
        call(fake, "PATCH", "/repos/octo/shop/git/refs/heads/main", json={"sha": base, "force": True}).status_code
        == 200
    )
    assert repo.ref("main") == base
    assert (
        call(fake, "PATCH", "/repos/octo/shop/git/refs/heads/main", json={"sha": ahead}).json()["object"]["sha"]
        == ahead
    )
    assert fake.violations == []


def test_git_data_objects_have_gits_own_ids(fake: FakeGitHub) -> None:
    fake.add_repo("octo/shop")
    blob = call(fake, "POST", "/repos/octo/shop/git/blobs", json={"content": "hello\n", "encoding": "utf-8"})
    assert blob.json()["sha"] == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"
    empty_tree = call(fake, "POST", "/repos/octo/shop/git/trees", json={"tree": []})
    assert empty_tree.json()["sha"] == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree
    assert fake.violations == []


def test_artifacts_list_and_download(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop")
    repo.branch("f", "main")
    run = fake.add_run(
        repo, head_branch="f", artifacts={"driftbot-report": {"driftbot-report.json": b'{"status": "drift"}'}}
    )
    listed = call(fake, "GET", f"/repos/octo/shop/actions/runs/{run.id}/artifacts").json()
    assert listed["total_count"] == 1 and listed["artifacts"][0]["name"] == "driftbot-report"
    redirect = call(fake, "GET", f"/repos/octo/shop/actions/artifacts/{listed['artifacts'][0]['id']}/zip")
    assert redirect.status_code == 302
    archive = requests.get(redirect.headers["Location"], timeout=10)
    assert zipfile.ZipFile(io.BytesIO(archive.content)).read("driftbot-report.json") == b'{"status": "drift"}'
    got = call(fake, "GET", f"/repos/octo/shop/actions/runs/{run.id}").json()
    assert (got["head_sha"], got["head_branch"]) == (repo.ref("f"), "f")
    assert fake.violations == []


def test_check_runs_contents_and_statuses_validate(fake: FakeGitHub) -> None:
    repo = fake.add_repo("octo/shop", {"app/models.py": "x = 1\n", "app/sub/y.py": "y\n"})
    sha = repo.ref("main")
    run = call(
        fake,
        "POST",
        "/repos/octo/shop/check-runs",
        json={
            "name": "driftbot",
            "head_sha": sha,
            "status": "in_progress",
            "output": {
                "title": "checking",
                "summary": "…",
                "annotations": [
                    {
                        "path": "app/models.py",
                        "start_line": 1,
                        "end_line": 1,
                        "annotation_level": "failure",
                        "message": "drift",
                    }
                ],
            },
        },
    )
    assert run.status_code == 201
    run_id = run.json()["id"]
    done = call(
        fake,
        "PATCH",
        f"/repos/octo/shop/check-runs/{run_id}",
        json={
            "conclusion": "failure",
            "output": {
                "title": "1 finding",
                "summary": "s",
                "annotations": [
                    {
                        "path": "app/models.py",
                        "start_line": 1,
                        "end_line": 1,
                        "annotation_level": "warning",
                        "message": "more",
                    }
                ],
            },
        },
    )
    assert done.json()["status"] == "completed" and done.json()["output"]["annotations_count"] == 2
    assert len(repo.check_runs[run_id].annotations) == 2
    listing = call(fake, "GET", "/repos/octo/shop/contents/app").json()
    assert sorted((e["name"], e["type"]) for e in listing) == [("models.py", "file"), ("sub", "dir")]
    assert (
        call(fake, "GET", f"/repos/octo/shop/contents/app/models.py?ref={sha}").json()["content"].strip() == "eCA9IDEK"
    )
    assert call(fake, "GET", "/repos/octo/shop/contents/nope.py").status_code == 404
    for state in ("pending", "failure"):
        call(fake, "POST", f"/repos/octo/shop/statuses/{sha}", json={"state": state, "context": "driftbot"})
    combined = call(fake, "GET", "/repos/octo/shop/commits/main/status").json()
    assert (combined["state"], combined["total_count"]) == ("failure", 1)
    assert [s["state"] for s in call(fake, "GET", f"/repos/octo/shop/commits/{sha}/statuses").json()] == [
        "failure",
        "pending",
    ]
    assert fake.violations == []
