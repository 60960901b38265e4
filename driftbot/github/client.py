"""PyGithub built in one place (GITHUB.md §6), the token's identity, and GitHub errors as driftbot errors."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3 import Retry

from driftbot.errors import InfrastructureError

GitHubClient = Github  # for annotations outside driftbot.github, which never imports PyGithub itself

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
FALLBACK_LOGIN = "github-actions[bot]"  # what GITHUB_TOKEN's comments are authored by
GITHUB_ACTIONS_ID = 41898282  # github-actions[bot]'s user id on github.com (not on GitHub Enterprise Server)
VIEWER_QUERY = "query { viewer { login databaseId } }"


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


class Account(Protocol):
    """A user as REST payloads and webhook events carry it (PyGithub's NamedUser, events.Actor)."""

    @property
    def login(self) -> str: ...
    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class Identity:
    """The account a token acts as. Its numeric id and type decide, never a login with a suffix stripped:
    anyone can register the user `github-actions`, only GitHub makes the bot `github-actions[bot]`."""

    login: str  # for messages; decides only when `id` is unknown
    id: int | None
    type: str  # "Bot" or "User"

    def owns(self, user: Account | None) -> bool:
        """`user` is this account: same type and id (same exact login when the id is unknown)."""
        if user is None or user.type != self.type:
            return False
        if self.id is not None:
            return user.id == self.id
        return user.login.lower() == self.login.lower()  # only a bot's login can end in "[bot]"


def account_type(login: str) -> str:
    """GraphQL's viewer names a bot `<app>[bot]`; "[" is not allowed in a user's login."""
    return "Bot" if login.lower().endswith("[bot]") else "User"


def fallback_identity(api_url: str) -> Identity:
    """GITHUB_TOKEN's bot; its id is known on github.com only, elsewhere its exact login and type decide."""
    on_dotcom = api_url.rstrip("/") == DEFAULT_API_URL
    return Identity(FALLBACK_LOGIN, GITHUB_ACTIONS_ID if on_dotcom else None, "Bot")


_IDENTITIES: weakref.WeakKeyDictionary[Github, Identity] = weakref.WeakKeyDictionary()


def viewer_identity(gh: Github) -> Identity:
    """Who the token acts as, asked once per client (GraphQL `viewer`: `GET /user` is 403 for installation tokens).

    Falls back to `github-actions[bot]`, GITHUB_TOKEN's identity, when the query fails.
    """
    if gh not in _IDENTITIES:
        _IDENTITIES[gh] = _ask_viewer(gh)
    return _IDENTITIES[gh]


def _ask_viewer(gh: Github) -> Identity:
    fallback = fallback_identity(gh.requester.base_url)
    try:
        _, data = gh.requester.graphql_query(VIEWER_QUERY, {})
        viewer = data["data"]["viewer"]
        login, number = viewer["login"], viewer["databaseId"]
    except (GithubException, requests.RequestException, KeyError, TypeError) as e:
        log.debug("GraphQL viewer query failed (%s); assuming %s", type(e).__name__, FALLBACK_LOGIN)
        return fallback
    if not isinstance(login, str) or not login or not isinstance(number, int) or isinstance(number, bool):
        log.debug("GraphQL viewer query gave no login and id; assuming %s", FALLBACK_LOGIN)
        return fallback
    return Identity(login, number, account_type(login))


def viewer_login(gh: Github) -> str:
    """The login the token acts as (for messages: compare accounts with `viewer_identity(gh).owns`)."""
    return viewer_identity(gh).login


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
