"""Small pure parts of the GitHub edge: identity matching, description cutting, error lines."""

from __future__ import annotations

import requests
from github import GithubException

from driftbot.github.client import describe, make_github, same_login
from driftbot.github.status import MAX_DESCRIPTION, cut


def test_same_login_tolerates_only_the_bot_suffix() -> None:
    assert same_login("github-actions[bot]", "github-actions[bot]")
    assert same_login("github-actions", "github-actions[bot]")  # GraphQL may name a bot without the suffix
    assert same_login("Alice", "alice")
    assert not same_login("alice", "bob")
    assert not same_login("alice", "alice2[bot]")


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
