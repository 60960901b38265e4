"""The commit command's policy (GITHUB.md §22) on plain values: who may commit, from which comment,
on which PR state and head, to which branch; and what GitHub's answers to the commit mean."""

from __future__ import annotations

from dataclasses import replace

import pytest

from driftbot.github.commands import (
    CommitOutcome,
    CommitPlan,
    CommitRequest,
    PullState,
    build_file_block,
    committed,
    decide_commit,
    existing_refusal,
    push_refusal,
)
from driftbot.github.comments import marker

SHA = "a" * 40
NEWER = "b" * 40
PATH = "migrations/versions/0002_add_nickname.py"
MIGRATION = '"""add nickname"""\nrevision = "0002"\ndown_revision = "0001"\n'


def carrier(*, sha: str = SHA, block: str | None = None, comment_id: str = "default") -> str:
    block = build_file_block(PATH, MIGRATION) if block is None else block
    return f"### driftbot found 1 difference\n\n{block}\n\n{marker(comment_id, sha)}"


def pull(**over: object) -> PullState:
    return replace(PullState("open", SHA, "add-nickname", "octo/shop", "https://github.com/octo/shop"), **over)  # type: ignore[arg-type]


def request(**over: object) -> CommitRequest:
    """alice (write access) asks to commit driftbot's comment for SHA, the open PR's head, same repository."""
    base = CommitRequest(
        repo="octo/shop",
        number=7,
        actor="alice",
        comment_id="default",
        carrier=carrier(),
        carrier_is_bots=True,
        permission="write",
        pull=pull(),
    )
    return replace(base, **over)  # type: ignore[arg-type]


def refused(req: CommitRequest) -> CommitOutcome:
    decision = decide_commit(req)
    assert isinstance(decision, CommitOutcome), decision
    assert not decision.done
    return decision


def approved(req: CommitRequest) -> CommitPlan:
    decision = decide_commit(req)
    assert isinstance(decision, CommitPlan), decision
    return decision


# --- the carrying comment -------------------------------------------------------------------------


def test_without_a_driftbot_comment_nothing_is_committed() -> None:
    outcome = refused(request(carrier=None))
    assert outcome.reason == "no_comment" and "Run the check first" in outcome.reply


def test_a_comment_written_by_someone_else_is_never_committed_from() -> None:
    assert refused(request(carrier_is_bots=False)).reason == "not_bot_comment"


def test_a_comment_without_the_marker_of_this_id_is_refused() -> None:
    outcome = refused(request(carrier=carrier(comment_id="api")))
    assert outcome.reason == "no_comment" and "`default`" in outcome.reply


# --- who may commit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("permission", ["read", "triage", "none", ""])
def test_only_write_access_may_commit(permission: str) -> None:
    outcome = refused(request(permission=permission))
    assert (
        outcome.reason == "forbidden" and outcome.reply.startswith("Sorry `alice`") and "write access" in outcome.reply
    )


@pytest.mark.parametrize("permission", ["write", "admin"])
def test_writers_and_admins_may_commit(permission: str) -> None:
    assert approved(request(permission=permission)).path == PATH


# --- the pull request -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["closed", "merged"])
def test_a_pull_request_that_is_not_open_is_not_committed_to(state: str) -> None:
    outcome = refused(request(pull=pull(state=state)))
    assert outcome.reason == "closed" and f"`{state}`" in outcome.reply


def test_a_head_that_moved_since_the_analysis_asks_for_a_rerun() -> None:
    outcome = refused(request(pull=pull(head_sha=NEWER)))
    assert outcome.reason == "stale" and SHA[:12] in outcome.reply and NEWER[:12] in outcome.reply


def test_the_marker_sha_is_what_must_match_the_head() -> None:
    """The comment was made for NEWER (a rerun) and the head is NEWER: fine; the parent is NEWER."""
    plan = approved(request(carrier=carrier(sha=NEWER), pull=pull(head_sha=NEWER)))
    assert plan.parent == NEWER


# --- the migration ----------------------------------------------------------------------------------


def test_a_comment_without_a_file_block_carries_no_migration() -> None:
    assert refused(request(carrier=carrier(block="no file here"))).reason == "no_migration"


def test_an_edited_migration_does_not_match_its_checksum() -> None:
    block = build_file_block(PATH, MIGRATION).replace('"0002"', '"0002"; import os; os.system("x")')
    outcome = refused(request(carrier=carrier(block=block)))
    assert outcome.reason == "tampered" and "checksum" in outcome.reply and outcome.path == PATH


def test_a_path_outside_the_repository_is_never_committed() -> None:
    outcome = refused(request(carrier=carrier(block=build_file_block("../evil.py", MIGRATION))))
    assert outcome.reason == "tampered"


# --- where it goes ----------------------------------------------------------------------------------


def test_a_deleted_head_repository_cannot_be_committed_to() -> None:
    outcome = refused(request(pull=pull(head_repo=None, head_html=None)))
    assert outcome.reason == "fork" and "no longer exists" in outcome.reply


@pytest.mark.parametrize(("can_modify", "pushable"), [(False, False), (False, True), (True, False)])
def test_a_fork_the_token_cannot_push_to_gets_the_manual_path(can_modify: bool, pushable: bool) -> None:
    fork = pull(head_repo="mallory/shop", head_html="https://github.com/mallory/shop", maintainer_can_modify=can_modify)
    outcome = refused(request(pull=fork, fork_pushable=pushable))
    assert outcome.reason == "fork" and outcome.path == PATH
    assert "`mallory/shop`" in outcome.reply and MIGRATION in outcome.reply
    assert ("maintainers may edit it" in outcome.reply) == can_modify


def test_a_fork_maintainers_may_edit_is_committed_with_a_token_that_can_push() -> None:
    fork = pull(head_repo="mallory/shop", maintainer_can_modify=True)
    plan = approved(request(pull=fork, fork_pushable=True))
    assert plan.head_repo == "mallory/shop" and plan.branch == "add-nickname"


def test_the_plan_is_the_carried_file_on_the_analysed_commit() -> None:
    plan = approved(request())
    assert (plan.head_repo, plan.branch, plan.parent, plan.path, plan.content) == (
        "octo/shop",
        "add-nickname",
        SHA,
        PATH,
        MIGRATION,
    )
    assert plan.message.startswith("Add driftbot's verified migration 0002_add_nickname.py\n")
    assert f"for {SHA[:12]}" in plan.message and "Requested by alice in octo/shop#7" in plan.message


# --- the order of the rules: the first refusal wins ---------------------------------------------------


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"carrier": None, "permission": "read"}, "no_comment"),
        ({"carrier_is_bots": False, "permission": "read"}, "not_bot_comment"),
        ({"permission": "read", "pull": pull(state="closed", head_sha=NEWER)}, "forbidden"),
        ({"pull": pull(state="closed", head_sha=NEWER)}, "closed"),
        ({"pull": pull(head_sha=NEWER), "carrier": carrier(block="no file")}, "stale"),
    ],
)
def test_the_first_rule_that_refuses_decides(over: dict[str, object], reason: str) -> None:
    assert refused(request(**over)).reason == reason


# --- after the decision: GitHub's answers -------------------------------------------------------------


def test_an_existing_file_is_never_overwritten() -> None:
    plan = approved(request())
    assert existing_refusal(plan, None) is None
    same = existing_refusal(plan, MIGRATION)
    other = existing_refusal(plan, "# someone else's 0002\n")
    assert same is not None and same.reason == "exists" and "nothing to commit" in same.reply
    assert other is not None and other.reason == "exists" and "does not overwrite" in other.reply
    assert existing_refusal(plan, "") is not None  # a directory of that name


def test_a_refused_fast_forward_means_the_branch_moved() -> None:
    plan = approved(request())
    moved = push_refusal(plan, 422, "Update is not a fast forward")
    assert moved is not None and moved.reason == "stale" and "moved" in moved.reply
    assert push_refusal(plan, 422, "Validation Failed") is None  # any other 422 is an error


def test_a_denied_push_is_a_missing_permission_on_this_repository_and_the_manual_path_on_a_fork() -> None:
    denied = push_refusal(approved(request()), 403, "Resource not accessible by integration")
    assert denied is not None and denied.reason == "push_denied" and "contents: write" in denied.reply
    fork = approved(request(pull=pull(head_repo="mallory/shop", maintainer_can_modify=True), fork_pushable=True))
    manual = push_refusal(fork, 404, "Not Found")
    assert manual is not None and manual.reason == "fork" and MIGRATION in manual.reply
    assert push_refusal(fork, 500, "Server Error") is None


def test_the_reply_after_a_commit_names_both_commits_and_the_status() -> None:
    plan = approved(request())
    done = committed(plan, NEWER, None)
    assert done.done and done.new_sha == NEWER and done.path == PATH and done.reason == "committed"
    assert f"as `{NEWER[:12]}`, on top of `{SHA[:12]}`" in done.reply and "set to success" in done.reply
    failed = committed(plan, NEWER, "403 | forbidden")
    assert "could not be set (403 \\| forbidden)" in failed.reply
