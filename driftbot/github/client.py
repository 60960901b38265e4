"""PyGithub built in one place (GITHUB.md §6), the token's identity, and GitHub errors as driftbot errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3 import Retry

from driftbot.errors import InfrastructureError

GitHubClient = Github  # for annotations outside driftbot.github, which never imports PyGithub itself

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
FALLBACK_LOGIN = "github-actions[bot]"  # what GITHUB_TOKEN's comments are authored by
VIEWER_QUERY = "query { viewer { login } }"


API_ERRORS = (GithubException, requests.RequestException)  # what a PyGithub call raises after retries


class GitHubError(InfrastructureError):
    """GitHub could not be reached or refused a call driftbot needs: exit 4."""

    stage = "github"


def make_github(token: str, api_url: str = DEFAULT_API_URL, *, for_tests: bool = False) -> Github:
    """PyGithub for `api_url` (GITHUB_API_URL): retries 5xx and secondary rate limits, 100 per page.

    `for_tests` drops PyGithub's pauses between requests (0.25 s, 1 s per write) and shortens
    the back-off, so tests against the fake GitHub stay fast.
    """
    retry = GithubRetry(
        total=4 if for_tests else 6,
        backoff_factor=0.01 if for_tests else 1.0,  # 0, 2, 4, 8, 16 s in production
        secondary_rate_wait=2 if for_tests else 60,
        max_rate_limit_wait=10 if for_tests else 300,
        # PATCH too: editing a comment or moving a ref (force=false) is safe to repeat
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
    )
    pause = None if for_tests else 0.25
    return Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        per_page=100,
        retry=retry,
        timeout=15,
        seconds_between_requests=pause,
        seconds_between_writes=None if for_tests else 1.0,
        lazy=True,  # objects are fetched when read, so `get_repo(...).get_pull(n)` is one request
    )


def viewer_login(gh: Github) -> str:
    """The login the token acts as (GraphQL `viewer`: `GET /user` is 403 for installation tokens).

    Falls back to `github-actions[bot]`, GITHUB_TOKEN's identity, when the query fails.
    """
    try:
        _, data = gh.requester.graphql_query(VIEWER_QUERY, {})
        login = data["data"]["viewer"]["login"]
    except (GithubException, requests.RequestException, KeyError, TypeError) as e:
        log.debug("GraphQL viewer query failed (%s); assuming %s", type(e).__name__, FALLBACK_LOGIN)
        return FALLBACK_LOGIN
    return str(login) if login else FALLBACK_LOGIN


def same_login(a: str, b: str) -> bool:
    """Logins of one account; GraphQL names an app's bot user with or without the `[bot]` suffix."""
    return a.lower().removesuffix("[bot]") == b.lower().removesuffix("[bot]") and (
        a.lower() == b.lower() or a.lower().endswith("[bot]") or b.lower().endswith("[bot]"))


def describe(error: BaseException) -> str:
    """One line for a failed GitHub call: the HTTP status and GitHub's message, no headers or token."""
    if isinstance(error, GithubException):
        message = error.message or (error.data.get("message") if isinstance(error.data, dict) else None) or ""
        return f"HTTP {error.status}: {message}".rstrip(": ")
    if isinstance(error, requests.RequestException):
        return f"GitHub unreachable ({type(error).__name__})"
    return f"{type(error).__name__}: {error}"


def status_of(error: BaseException) -> int | None:
    return error.status if isinstance(error, GithubException) else None


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn PyGithub/requests failures of `what` into a `GitHubError` naming it (after retries)."""
    try:
        yield
    except API_ERRORS as e:
        raise GitHubError(f"GitHub API: could not {what}: {describe(e)}") from e
