"""The sticky comment, the status, retries and the drift issue against the fake GitHub over HTTP.

Every exchange is validated against GitHub's REST description by the fake; the fixture fails
the test at teardown if one broke it. Assertions are on the fake's final state.
"""

from __future__ import annotations

import time

import pytest
from fakegithub import BOT, FakeGitHub
from fakegithub.state import Repo
from github import Github

from driftbot.github.client import (
    FALLBACK_LOGIN,
    GitHubError,
    Identity,
    fallback_identity,
    make_github,
    viewer_identity,
    viewer_login,
)
from driftbot.github.comments import CannotPostComment, MissingMarker, find_sticky_comment, marker, post_sticky_comment
from driftbot.github.issues import CLOSE_COMMENT, issue_marker, publish_issue
from driftbot.github.status import CannotSetStatus, set_status

ME = Identity(BOT, 41898282, "Bot")  # the workflow token's account


@pytest.fixture
def scene(fake_github: FakeGitHub) -> tuple[FakeGitHub, Repo, int, str]:
    repo = fake_github.add_repo("octo/shop", {"models.py": "x = 1\n"})
    repo.branch("feature", "main")
    head = repo.commit("feature", {"models.py": "x = 2\n"}, "change the models")
    pr = fake_github.open_pull(repo, "feature")
    return fake_github, repo, pr.number, head


def gh_for(fake: FakeGitHub, token: str | None = None) -> Github:
    return make_github(token or fake.token, fake.url, for_tests=True)


def body(text: str, sha: str, comment_id: str = "default") -> str:
    return f"{text}\n\n{marker(comment_id, sha)}"


def test_viewer_login_is_the_tokens_identity_and_falls_back(fake_github: FakeGitHub) -> None:
    fake_github.add_token("ghp_alice", "alice", installation=False)
    assert viewer_login(gh_for(fake_github)) == BOT
    assert viewer_login(gh_for(fake_github, "ghp_alice")) == "alice"
    assert viewer_login(make_github("ghp_unknown", fake_github.url, for_tests=True)) == FALLBACK_LOGIN  # 401


def test_viewer_identity_is_the_id_and_type_asked_once(fake_github: FakeGitHub) -> None:
    fake_github.add_token("ghp_alice", "alice", installation=False)
    gh = gh_for(fake_github)
    assert viewer_identity(gh) == viewer_identity(gh) == ME
    assert len(fake_github.requests("POST", "/graphql")) == 1
    alice = fake_github.world.user("alice")
    assert viewer_identity(gh_for(fake_github, "ghp_alice")) == Identity("alice", alice.id, "User")
    unknown = make_github("ghp_unknown", fake_github.url, for_tests=True)
    assert viewer_identity(unknown) == fallback_identity(fake_github.url) == Identity(BOT, None, "Bot")
    assert fallback_identity("https://api.github.com/") == ME  # github.com's id for github-actions[bot]


def test_sticky_comment_created_once_then_updated_in_place(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    gh = gh_for(fake)
    first = post_sticky_comment(gh, "octo/shop", number, body("drift: 2 findings", head))
    second = post_sticky_comment(gh, "octo/shop", number, body("drift: 1 finding", head))
    ours = fake.comments(repo, number, user=BOT)
    assert first == second == ours[0].id
    assert [c.body for c in ours] == [body("drift: 1 finding", head)]
    assert ours[0].updated_at > ours[0].created_at
    assert len(fake.requests("POST", "/comments")) == 1 and len(fake.requests("PATCH", "/issues/comments/")) == 1


def test_unchanged_body_is_not_sent_again(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    gh = gh_for(fake)
    text = body("clean", head)
    post_sticky_comment(gh, "octo/shop", number, text)
    post_sticky_comment(gh, "octo/shop", number, text)
    assert len(fake.comments(repo, number)) == 1
    assert fake.requests("PATCH") == []


def test_found_across_pages_never_duplicated(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    """driftbot's comment comes after a full page of 100 (the most GitHub serves per page): a scan
    of the first page only would miss it, post a second one, and never remove the first."""
    fake, repo, number, head = scene
    for i in range(100):
        fake.add_comment(repo, number, "bob" if i % 2 else "alice", f"review comment {i}")
    gh = gh_for(fake)
    cid = post_sticky_comment(gh, "octo/shop", number, body("v1", head))
    fake.add_comment(repo, number, "alice", "thanks!")
    assert post_sticky_comment(gh, "octo/shop", number, body("v2", head)) == cid
    ours = fake.comments(repo, number, user=BOT)
    assert [(c.id, c.body) for c in ours] == [(cid, body("v2", head))]
    assert len(fake.comments(repo, number)) == 102
    assert find_sticky_comment(gh, "octo/shop", number) == (cid, body("v2", head))
    pages = [e.query for e in fake.requests("GET", f"/issues/{number}/comments")]
    assert any("page=2" in q and "per_page=100" in q for q in pages)  # it was on the second page of 100


def test_pagination_with_small_pages_follows_link_headers(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    for i in range(34):
        fake.add_comment(repo, number, "alice", f"comment {i}")
    gh = gh_for(fake)
    cid = post_sticky_comment(gh, "octo/shop", number, body("v1", head))
    gh.per_page = 30  # a default-sized client: the sticky comment is on page 2
    assert find_sticky_comment(gh, "octo/shop", number) == (cid, body("v1", head))
    pages = [e.query for e in fake.requests("GET", f"/issues/{number}/comments")]
    assert any("page=2" in q for q in pages)


def test_forged_markers_from_other_users_are_ignored(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    forged = fake.add_comment(repo, number, "mallory", body("I am driftbot, trust me", head))
    gh = gh_for(fake)
    cid = post_sticky_comment(gh, "octo/shop", number, body("real", head))
    assert cid != forged.id
    assert repo.comments[forged.id].body == body("I am driftbot, trust me", head)  # untouched
    assert [c.body for c in fake.comments(repo, number, user=BOT)] == [body("real", head)]


@pytest.mark.parametrize("graphql", ["answers", "fails"])
def test_a_comment_by_the_user_github_actions_is_not_ours(
    scene: tuple[FakeGitHub, Repo, int, str], graphql: str
) -> None:
    """Anyone can register `github-actions` (type User); driftbot is `github-actions[bot]` (its id, type Bot)."""
    fake, repo, number, head = scene
    forged = fake.add_comment(repo, number, "github-actions", body("I am driftbot, trust me", head))
    assert fake.world.user("github-actions").type == "User"
    if graphql == "fails":  # the fallback identity: exact login and type, still no look-alike
        fake.fail_next(20, 502, path_contains="/graphql")
    gh = gh_for(fake)
    assert find_sticky_comment(gh, "octo/shop", number) is None
    cid = post_sticky_comment(gh, "octo/shop", number, body("real", head))
    assert cid != forged.id
    assert repo.comments[forged.id].body == body("I am driftbot, trust me", head)  # neither updated nor deleted
    assert [c.body for c in fake.comments(repo, number, user=BOT)] == [body("real", head)]
    assert find_sticky_comment(gh, "octo/shop", number) == (cid, body("real", head))


def test_marker_quoted_in_a_code_block_is_not_a_marker(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    """The bot's comment for id `web` quotes PR text holding a marker for id `api`: `api` must not adopt it."""
    fake, repo, number, head = scene
    gh = gh_for(fake)
    web = post_sticky_comment(
        gh, "octo/shop", number, f"```\n{marker('api', head)}\n```\n\n{marker('web', head)}", comment_id="web"
    )
    api = post_sticky_comment(gh, "octo/shop", number, body("api report", head, "api"), comment_id="api")
    assert api != web
    assert len(fake.comments(repo, number, user=BOT)) == 2


def test_ids_keep_separate_comments_and_other_ids_are_left_alone(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    gh = gh_for(fake)
    a = post_sticky_comment(gh, "octo/shop", number, body("backend", head, "backend"), comment_id="backend")
    b = post_sticky_comment(gh, "octo/shop", number, body("billing", head, "billing"), comment_id="billing")
    post_sticky_comment(gh, "octo/shop", number, body("backend v2", head, "backend"), comment_id="backend")
    assert a != b
    assert {c.id: c.body for c in fake.comments(repo, number)} == {
        a: body("backend v2", head, "backend"),
        b: body("billing", head, "billing"),
    }


def test_duplicates_from_a_retried_post_are_removed(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    """Two copies already there (a retried POST or two concurrent runs): the next run keeps one."""
    fake, repo, number, head = scene
    old = fake.add_comment(repo, number, BOT, body("v1", head))
    fake.add_comment(repo, number, BOT, body("v1", head))
    cid = post_sticky_comment(gh_for(fake), "octo/shop", number, body("v2", head))
    assert [(c.id, c.body) for c in fake.comments(repo, number, user=BOT)] == [(cid, body("v2", head))]
    assert cid != old.id  # the newest is the one updated


def test_create_then_dedupe_keeps_the_oldest(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    """A concurrent run created its comment between our scan and our POST: both runs keep the oldest."""
    fake, repo, number, head = scene
    original = fake.app.h_POST_issues_issue_number_comments

    def racing(ctx, issue_number):  # type: ignore[no-untyped-def]
        fake.add_comment(repo, number, BOT, body("from the other run", head))
        return original(ctx, issue_number)

    fake.app.h_POST_issues_issue_number_comments = racing  # type: ignore[method-assign]
    cid = post_sticky_comment(gh_for(fake), "octo/shop", number, body("ours", head))
    ours = fake.comments(repo, number, user=BOT)
    assert [(c.id, c.body) for c in ours] == [(cid, body("from the other run", head))]


def test_body_without_marker_is_refused_before_any_request(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, _repo, number, head = scene
    with pytest.raises(MissingMarker):
        post_sticky_comment(gh_for(fake), "octo/shop", number, "no marker here")
    with pytest.raises(MissingMarker):  # a marker for another id does not count
        post_sticky_comment(gh_for(fake), "octo/shop", number, body("x", head, "other"))
    assert fake.exchanges == []


def test_403_on_a_fork_token_is_cannot_post_comment(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    fake.restrict_token(writable=set())  # a fork PR's read-only GITHUB_TOKEN
    with pytest.raises(CannotPostComment) as caught:
        post_sticky_comment(gh_for(fake), "octo/shop", number, body("drift", head))
    assert "403" in caught.value.reason and "Resource not accessible by integration" in caught.value.reason
    assert fake.comments(repo, number) == []


def test_server_rejects_a_comment_over_65536_characters(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    gh = gh_for(fake)
    with pytest.raises(CannotPostComment, match="65,536"):  # refused locally, before sending
        post_sticky_comment(gh, "octo/shop", number, body("x" * 65_536, head))
    issue = gh.get_repo("octo/shop").get_issue(number)
    from github import GithubException

    with pytest.raises(GithubException) as caught:  # and the fake refuses like GitHub does
        issue.create_comment("y" * 65_537)
    assert caught.value.status == 422
    fits = body("x" * (65_536 - len(body("", head))), head)
    assert len(fits) == 65_536
    post_sticky_comment(gh, "octo/shop", number, fits)
    assert [c.body for c in fake.comments(repo, number)] == [fits]


def test_5xx_is_retried(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    fake.fail_next(2, 502, method="GET", path_contains="/comments")
    fake.fail_next(1, 503, method="POST", path_contains="/comments")
    cid = post_sticky_comment(gh_for(fake), "octo/shop", number, body("after a bad minute", head), author=ME)
    assert [c.id for c in fake.comments(repo, number)] == [cid]
    statuses = [e.status for e in fake.requests(path_contains="/comments")]
    assert statuses[:3] == [502, 502, 200] and 503 in statuses and statuses.count(201) == 1


def test_5xx_that_does_not_stop_is_a_github_error(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, _repo, number, head = scene
    fake.fail_next(50, 500, path_contains="/comments")
    with pytest.raises(GitHubError) as caught:
        post_sticky_comment(gh_for(fake), "octo/shop", number, body("x", head), author=ME)
    assert caught.value.exit_code == 4
    assert len(fake.requests(path_contains="/comments")) == 5  # 1 try + 4 retries (for_tests)


def test_secondary_rate_limit_waits_retry_after(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, number, head = scene
    fake.rate_limit_next(1, retry_after=1, method="POST")
    started = time.monotonic()
    post_sticky_comment(gh_for(fake), "octo/shop", number, body("x", head), author=ME)
    assert time.monotonic() - started >= 1.0
    assert [e.status for e in fake.requests("POST")] == [403, 201]
    assert len(fake.comments(repo, number)) == 1


def test_status_on_the_head_with_cut_description(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, repo, _number, head = scene
    gh = gh_for(fake)
    set_status(gh, "octo/shop", head, "failure", "drift: " + "column missing; " * 20, "https://ci.example/run/1")
    set_status(gh, "octo/shop", head, "success", "no drift")
    statuses = fake.statuses(repo, head, "driftbot")
    assert [s.state for s in statuses] == ["failure", "success"]
    assert len(statuses[0].description or "") == 140 and (statuses[0].description or "").endswith("…")
    assert statuses[0].target_url == "https://ci.example/run/1" and statuses[1].target_url is None
    assert fake.statuses(repo, repo.ref("main")) == []


def test_status_refused_is_cannot_set_status(scene: tuple[FakeGitHub, Repo, int, str]) -> None:
    fake, _repo, _number, head = scene
    fake.restrict_token(writable=set())
    with pytest.raises(CannotSetStatus, match="403"):
        set_status(gh_for(fake), "octo/shop", head, "success", "ok")
    with pytest.raises(CannotSetStatus, match="422"):
        fake.restrict_token(writable={"octo/shop"})
        set_status(gh_for(fake), "octo/shop", "0" * 40, "success", "no such commit")


def test_drift_issue_opened_updated_and_closed(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo("octo/shop")
    fake_github.add_issue(repo, "Unrelated", "a user's issue", user="alice")
    fake_github.add_issue(repo, "Forged", f"x\n\n{issue_marker('prod')}", user="mallory")
    gh = gh_for(fake_github)
    number = publish_issue(gh, "octo/shop", "Schema drift in production", "2 findings", "prod")
    again = publish_issue(gh, "octo/shop", "Schema drift in production", "3 findings", "prod")
    assert number == again
    assert number is not None
    issue = repo.issues[number]
    assert issue.user == BOT and issue.state == "open"
    assert issue.body == f"3 findings\n\n{issue_marker('prod')}\n"
    assert len([i for i in repo.open_issues() if i.user == BOT]) == 1
    assert publish_issue(gh, "octo/shop", "Schema drift in production", None, "prod") is None
    assert issue.state == "closed" and issue.state_reason == "completed"
    assert [c.body for c in fake_github.comments(repo, number)] == [CLOSE_COMMENT]
    assert repo.issues[2].state == repo.issues[1].state == "open"  # forged and unrelated untouched
    # drift again: a new issue (the closed one stays closed)
    reopened = publish_issue(gh, "octo/shop", "Schema drift in production", "1 finding", "prod")
    assert reopened not in (None, number)


def test_drift_issue_by_the_user_github_actions_is_not_ours(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo("octo/shop")
    forged = fake_github.add_issue(
        repo, "Schema drift in production", f"x\n\n{issue_marker('prod')}", user="github-actions"
    )
    gh = gh_for(fake_github)
    number = publish_issue(gh, "octo/shop", "Schema drift in production", "2 findings", "prod")
    assert number != forged.number and repo.issues[number].user == BOT  # type: ignore[index]
    assert publish_issue(gh, "octo/shop", "Schema drift in production", None, "prod") is None
    assert (forged.state, forged.body) == ("open", f"x\n\n{issue_marker('prod')}")  # never edited nor closed
    assert fake_github.comments(repo, forged.number) == []


def test_closing_when_nothing_is_open_does_nothing(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo("octo/shop")
    assert publish_issue(gh_for(fake_github), "octo/shop", "t", None, "prod") is None
    assert repo.issues == {}
    assert [e.path for e in fake_github.requests("POST")] == ["/graphql"] and fake_github.requests("PATCH") == []
