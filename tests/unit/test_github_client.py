"""Small pure parts of the GitHub edge: identity matching, description cutting, error lines."""

from __future__ import annotations

import requests
from github import GithubException

from driftbot.github.client import Identity, account_type, describe, make_github
from driftbot.github.events import Actor
from driftbot.github.status import MAX_DESCRIPTION, cut

BOT = Actor("github-actions[bot]", 41898282, "Bot")


def test_identity_is_id_and_type_never_a_look_alike_login() -> None:
    me = Identity("github-actions[bot]", 41898282, "Bot")
    assert me.owns(BOT)
    assert not me.owns(Actor("github-actions", 9001, "User"))  # anyone can register this user
    assert not me.owns(Actor("github-actions[bot]", 9001, "Bot"))  # another instance's bot (GHES)
    assert not me.owns(Actor("github-actions[bot]", 41898282, "User"))
    assert not me.owns(None)
    assert Identity("alice", 2, "User").owns(Actor("Alice", 2, "User"))
    assert not Identity("alice", 2, "User").owns(Actor("alice", 3, "User"))  # a renamed account's old login


def test_identity_without_an_id_needs_the_exact_login_and_type() -> None:
    fallback = Identity("github-actions[bot]", None, "Bot")
    assert fallback.owns(BOT) and fallback.owns(Actor("GitHub-Actions[bot]", 7, "Bot"))
    assert not fallback.owns(Actor("github-actions", 41898282, "User"))
    assert not fallback.owns(Actor("github-actions", 7, "Bot"))  # no suffix stripped


def test_account_type_from_the_viewers_login() -> None:
    assert account_type("github-actions[bot]") == "Bot" and account_type("github-actions") == "User"


def test_cut_keeps_one_line_within_the_limit() -> None:
    assert cut("no drift") == "no drift"
    long = cut("drift:\n" + "column missing; " * 20)
    assert len(long) == MAX_DESCRIPTION and long.endswith("…") and "\n" not in long


def test_describe_never_shows_more_than_status_and_message() -> None:
    e = GithubException(403, {"message": "Resource not accessible by integration"}, {"Authorization": "token x"})
    assert describe(e) == "HTTP 403: Resource not accessible by integration"
    assert describe(requests.ConnectionError("http://token@host")) == "GitHub unreachable (ConnectionError)"


def test_make_github_points_at_the_api_url_with_100_per_page() -> None:
    gh = make_github("t0ken", "https://ghe.example/api/v3/", for_tests=True)
    assert gh.per_page == 100
    assert gh.requester.base_url == "https://ghe.example/api/v3"
    assert gh.requester.graphql_url == "https://ghe.example/api/graphql"
    assert "t0ken" not in repr(gh.requester.auth)
