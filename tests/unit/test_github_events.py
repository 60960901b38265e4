"""Event fixtures validate against @octokit/webhooks-schemas; driftbot parses them into typed events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakegithub.events import EVENTS_DIR, FIXTURES, HEAD_SHA, event_payload, load
from fakegithub.spec import validate_webhook

from driftbot.github.commands import extract_migration, is_ticked
from driftbot.github.comments import read_marker
from driftbot.github.events import EventError, IssueCommentEvent, PullRequestEvent, WorkflowRunEvent, load_event


def test_every_fixture_file_is_listed() -> None:
    assert sorted(p.name for p in EVENTS_DIR.glob("*.json")) == sorted(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_validates_against_the_webhook_schema(name: str) -> None:
    assert validate_webhook(load(name), FIXTURES[name]) == []


def test_validation_catches_a_broken_payload() -> None:
    broken = load("issue_comment_created.json")
    del broken["comment"]["user"]
    broken["action"] = "edited"
    errors = validate_webhook(broken, "issue_comment$created")
    assert any("user" in e for e in errors) and any("edited" in e for e in errors)
    with pytest.raises(AssertionError, match="no longer a valid"):
        event_payload("issue_comment_created.json", **{"issue.number": "seven"})


def test_pull_request_same_repository_and_fork() -> None:
    same = PullRequestEvent.from_payload(load_event(EVENTS_DIR / "pull_request_opened.json"))
    assert (same.repo, same.number, same.head_sha, same.head_ref) == ("octo/shop", 7, HEAD_SHA, "add-nickname")
    assert (same.head_repo, same.base_repo, same.is_fork) == ("octo/shop", "octo/shop", False)
    fork = PullRequestEvent.from_payload(load("pull_request_fork_synchronize.json"))
    assert (fork.action, fork.head_repo, fork.is_fork, fork.maintainer_can_modify) == (
        "synchronize",
        "mallory/shop",
        True,
        False,
    )
    assert fork.head_sha != HEAD_SHA


def test_issue_comment_created_is_the_command() -> None:
    event = IssueCommentEvent.from_payload(load("issue_comment_created.json"))
    assert (event.action, event.body, event.user_login, event.sender_login) == (
        "created",
        "/driftbot commit",
        "alice",
        "alice",
    )
    assert event.is_pull_request and event.issue_number == 7 and event.previous_body is None


def test_issue_comment_edited_ticks_the_box_in_the_bots_comment() -> None:
    event = IssueCommentEvent.from_payload(load("issue_comment_edited.json"))
    assert event.action == "edited" and event.user_login == "github-actions[bot]" and event.sender_login == "alice"
    assert (event.user.id, event.user.type, event.sender.id, event.sender.type) == (41898282, "Bot", 2, "User")
    assert event.previous_body is not None
    assert is_ticked(event.body) and not is_ticked(event.previous_body)
    found = read_marker(event.body)
    assert found is not None and found.sha == HEAD_SHA
    migration = extract_migration(event.body)
    assert migration is not None and migration[0] == "migrations/versions/0002_add_nickname.py"


def test_workflow_run_of_a_fork() -> None:
    event = WorkflowRunEvent.from_payload(load("workflow_run_completed.json"))
    assert (event.repository, event.head_repository, event.head_branch, event.head_sha) == (
        "octo/shop",
        "mallory/shop",
        "add-nickname",
        HEAD_SHA,
    )
    assert event.conclusion == "failure" and event.event == "pull_request" and event.pull_numbers == ()


def test_bad_payloads_are_event_errors(tmp_path: Path) -> None:
    with pytest.raises(EventError, match="cannot read"):
        load_event(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(EventError, match="not JSON"):
        load_event(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(EventError, match="not a JSON object"):
        load_event(tmp_path / "list.json")
    payload = load("pull_request_opened.json")
    del payload["pull_request"]["head"]["sha"]
    with pytest.raises(EventError, match=r"head\.sha") as caught:
        PullRequestEvent.from_payload(payload)
    assert caught.value.exit_code == 2
    assert json.dumps(load("issue_comment_created.json"))  # the fixture itself was not modified
