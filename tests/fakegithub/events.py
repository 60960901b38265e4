"""Webhook event payloads: the fixture files in tests/fixtures/events/ and a factory for tests.

The fixtures are complete payloads (every field `@octokit/webhooks-schemas` requires) written
by `python tests/fakegithub/events.py` from the scenes below; a test validates each file.
`event_payload(name, **changes)` loads a fixture, applies dotted-path changes (so a test can
point it at the fake's SHAs and numbers) and validates the result again.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make `fakegithub` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakegithub.spec import validate_webhook, webhook_schemas

EVENTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "events"
API = "https://api.github.com"
WEB = "https://github.com"
TIME = "2024-05-01T12:00:00Z"
BASE_SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
NEW_HEAD_SHA = "89e6c98d92887913cadf06b2adb97f26cde4849b"
BOT = "github-actions[bot]"

# fixture file -> (webhook definition, payload event name)
FIXTURES: dict[str, str] = {
    "pull_request_opened.json": "pull_request$opened",
    "pull_request_synchronize.json": "pull_request$synchronize",
    "pull_request_fork_opened.json": "pull_request$opened",
    "pull_request_fork_synchronize.json": "pull_request$synchronize",
    "issue_comment_created.json": "issue_comment$created",
    "issue_comment_edited.json": "issue_comment$edited",
    "workflow_run_completed.json": "workflow_run$completed",
}


# ---------------------------------------------------------------- completing payloads from the schema


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    defs = webhook_schemas()["definitions"]
    while "$ref" in schema:
        schema = defs[schema["$ref"].removeprefix("#/definitions/")]
    return schema


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def _object_parts(schema: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    schema = _resolve(schema)
    props: dict[str, Any] = dict(schema.get("properties", {}))
    required: list[str] = list(schema.get("required", []))
    for sub in schema.get("allOf", []):
        p, r = _object_parts(sub)
        for name, value in p.items():  # the later part narrows the earlier one
            props[name] = {"allOf": [props[name], value]} if name in props else value
        required += r
    return props, required


def _closed(schema: Mapping[str, Any]) -> bool:
    schema = _resolve(schema)
    return schema.get("additionalProperties") is False or any(_closed(sub) for sub in schema.get("allOf", []))


def _options(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [_resolve(o) for key in ("oneOf", "anyOf") for o in schema.get(key, [])]


def sample(schema: Mapping[str, Any]) -> Any:
    schema = _resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    if "allOf" in schema and "properties" not in schema and "type" not in schema:
        parts = [sample(sub) for sub in schema["allOf"]]
        if all(isinstance(p, dict) for p in parts):
            return {k: v for p in parts for k, v in p.items()}
        return parts[-1]  # the later part narrows the earlier one (e.g. to null)
    options = _options(schema)
    if options:
        non_null = [o for o in options if _types(o) != ["null"]]
        return sample((non_null or options)[0])
    kinds = [k for k in _types(schema) if k != "null"] or _types(schema)
    kind = kinds[0] if kinds else ("object" if "properties" in schema or "allOf" in schema else None)
    if kind == "object":
        props, required = _object_parts(schema)
        return {name: sample(props.get(name, {})) for name in dict.fromkeys(required)}
    if kind == "array":
        return []
    if kind == "string":
        return {
            "date-time": TIME,
            "uri": f"{WEB}/placeholder",
            "uri-template": f"{API}/placeholder{{/x}}",
            "email": "nobody@example.invalid",
        }.get(schema.get("format", ""), "")
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return None


def conform(schema: Mapping[str, Any], data: Any) -> Any:
    """`data` with every required field it lacks filled in (recursively); the fields it has are kept."""
    schema = _resolve(schema)
    if isinstance(data, dict):
        options = [o for o in _options(schema) if "object" in _types(o) or "properties" in o or "allOf" in o]
        if options and "properties" not in schema:
            return conform(options[0], data)
        props, required = _object_parts(schema)
        out = dict(data)
        if _closed(schema):  # e.g. a "repository-lite": keep only what the schema allows
            out = {k: v for k, v in out.items() if k in props}
        for name in required:
            if name not in out:
                out[name] = sample(props.get(name, {}))
        for name, value in out.items():
            if name in props and isinstance(value, dict | list):
                out[name] = conform(props[name], value)
        return out
    if isinstance(data, list):
        items = schema.get("items")
        if items is None:
            for sub in schema.get("allOf", []):
                items = _resolve(sub).get("items", items)
        return [conform(items or {}, item) for item in data]
    return data


# ---------------------------------------------------------------- the scenes


def _user(login: str, id: int) -> dict[str, Any]:
    return {
        "login": login,
        "id": id,
        "node_id": f"U_{id}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
        "url": f"{API}/users/{login}",
        "html_url": f"{WEB}/{login}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{id}?v=4",
        "gravatar_id": "",
    }


USERS = {"octo": 1, "alice": 2, "mallory": 3, "bob": 4, BOT: 41898282}


def user(login: str) -> dict[str, Any]:
    return _user(login, USERS.get(login, 99))


def repository(full_name: str, id: int, *, fork: bool = False) -> dict[str, Any]:
    owner, name = full_name.split("/")
    url = f"{API}/repos/{full_name}"
    return {
        "id": id,
        "node_id": f"R_{id}",
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": user(owner),
        "html_url": f"{WEB}/{full_name}",
        "description": "A shop with SQLAlchemy models",
        "fork": fork,
        "url": url,
        "default_branch": "main",
        "visibility": "public",
        "clone_url": f"{WEB}/{full_name}.git",
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "svn_url": f"{WEB}/{full_name}",
        "created_at": TIME,
        "updated_at": TIME,
        "pushed_at": TIME,
    }


BASE_REPO = repository("octo/shop", 500)
FORK_REPO = repository("mallory/shop", 501, fork=True)


def pull_request(*, fork: bool, head_sha: str, number: int = 7) -> dict[str, Any]:
    head_repo = FORK_REPO if fork else BASE_REPO
    author = "mallory" if fork else "alice"
    html = f"{WEB}/octo/shop/pull/{number}"
    url = f"{API}/repos/octo/shop/pulls/{number}"
    return {
        "url": url,
        "id": 9000 + number,
        "node_id": f"PR_{number}",
        "html_url": html,
        "number": number,
        "state": "open",
        "locked": False,
        "title": "Add a nickname column",
        "user": user(author),
        "body": "The model gets a nickname.",
        "created_at": TIME,
        "updated_at": TIME,
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "draft": False,
        "merged": False,
        "mergeable": None,
        "maintainer_can_modify": False,
        "author_association": "CONTRIBUTOR" if fork else "COLLABORATOR",
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{API}/repos/octo/shop/issues/{number}",
        "head": {
            "label": f"{head_repo['owner']['login']}:add-nickname",
            "ref": "add-nickname",
            "sha": head_sha,
            "user": user(head_repo["owner"]["login"]),
            "repo": head_repo,
        },
        "base": {"label": "octo:main", "ref": "main", "sha": BASE_SHA, "user": user("octo"), "repo": BASE_REPO},
        "_links": {
            k: {"href": v}
            for k, v in {
                "self": url,
                "html": html,
                "issue": f"{API}/repos/octo/shop/issues/{number}",
                "comments": f"{API}/repos/octo/shop/issues/{number}/comments",
                "review_comments": f"{url}/comments",
                "review_comment": f"{API}/repos/octo/shop/pulls/comments{{/number}}",
                "commits": f"{url}/commits",
                "statuses": f"{API}/repos/octo/shop/statuses/{head_sha}",
            }.items()
        },
        "commits": 1,
        "additions": 10,
        "deletions": 0,
        "changed_files": 1,
        "comments": 0,
        "review_comments": 0,
    }


def pr_issue(number: int = 7) -> dict[str, Any]:
    html = f"{WEB}/octo/shop/pull/{number}"
    return {
        "url": f"{API}/repos/octo/shop/issues/{number}",
        "repository_url": f"{API}/repos/octo/shop",
        "html_url": html,
        "id": 8000 + number,
        "node_id": f"I_{number}",
        "number": number,
        "title": "Add a nickname column",
        "user": user("alice"),
        "state": "open",
        "locked": False,
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 1,
        "created_at": TIME,
        "updated_at": TIME,
        "closed_at": None,
        "author_association": "COLLABORATOR",
        "body": "The model gets a nickname.",
        "pull_request": {
            "url": f"{API}/repos/octo/shop/pulls/{number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        },
    }


def comment(id: int, author: str, body: str, number: int = 7) -> dict[str, Any]:
    return {
        "id": id,
        "node_id": f"IC_{id}",
        "url": f"{API}/repos/octo/shop/issues/comments/{id}",
        "html_url": f"{WEB}/octo/shop/pull/{number}#issuecomment-{id}",
        "body": body,
        "user": user(author),
        "created_at": TIME,
        "updated_at": TIME,
        "issue_url": f"{API}/repos/octo/shop/issues/{number}",
        "author_association": "NONE" if author == BOT else "COLLABORATOR",
    }


def bot_comment_body(checked: bool, head_sha: str = HEAD_SHA) -> str:
    """A driftbot comment as the action's template writes it: the file block, the checkbox, the marker."""
    content = (
        '"""add nickname\n\nRevision ID: 0002\nRevises: 0001\n"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
        'revision = "0002"\ndown_revision = "0001"\n\n\ndef upgrade():\n'
        '    op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))\n\n\n'
        'def downgrade():\n    op.drop_column("users", "nickname")\n'
    )
    import hashlib

    digest = hashlib.sha256(content.encode()).hexdigest()
    box = "x" if checked else " "
    return (
        "### driftbot: 1 difference\n\n<details><summary>Suggested migration "
        "<code>migrations/versions/0002_add_nickname.py</code></summary>\n\n"
        f"<!-- driftbot:file path=migrations/versions/0002_add_nickname.py sha256={digest} -->\n"
        f"```python\n{content}```\n\n</details>\n\n"
        f"- [{box}] Commit this migration to `add-nickname`\n\n"
        f"<!-- driftbot:comment v1 id=default sha={head_sha} -->"
    )


def workflow_run() -> dict[str, Any]:
    url = f"{API}/repos/octo/shop/actions/runs/30433642"
    return {
        "id": 30433642,
        "node_id": "WFR_1",
        "name": "driftbot",
        "head_branch": "add-nickname",
        "head_sha": HEAD_SHA,
        "path": ".github/workflows/driftbot.yml",
        "display_title": "Add a nickname column",
        "run_number": 12,
        "run_attempt": 1,
        "event": "pull_request",
        "status": "completed",
        "conclusion": "failure",
        "workflow_id": 161335,
        "check_suite_id": 42,
        "check_suite_node_id": "CS_42",
        "url": url,
        "html_url": f"{WEB}/octo/shop/actions/runs/30433642",
        "pull_requests": [],
        "created_at": TIME,
        "updated_at": TIME,
        "run_started_at": TIME,
        "actor": user("mallory"),
        "triggering_actor": user("mallory"),
        "jobs_url": f"{url}/jobs",
        "logs_url": f"{url}/logs",
        "check_suite_url": f"{API}/repos/octo/shop/check-suites/42",
        "artifacts_url": f"{url}/artifacts",
        "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{API}/repos/octo/shop/actions/workflows/161335",
        "head_commit": {
            "id": HEAD_SHA,
            "tree_id": "b4a8b2f3fa4f2c7e1b5c8b2e7a4b0f1f2c3d4e5f",
            "message": "Add a nickname column",
            "timestamp": TIME,
            "author": {"name": "Mallory", "email": "mallory@example.invalid"},
            "committer": {"name": "Mallory", "email": "mallory@example.invalid"},
        },
        "repository": BASE_REPO,
        "head_repository": FORK_REPO,
        "referenced_workflows": [],
    }


def scenes() -> dict[str, dict[str, Any]]:
    """The fixture payloads before completion from the schema."""
    opened = {
        "action": "opened",
        "number": 7,
        "pull_request": pull_request(fork=False, head_sha=HEAD_SHA),
        "repository": BASE_REPO,
        "sender": user("alice"),
    }
    sync = {
        "action": "synchronize",
        "number": 7,
        "before": HEAD_SHA,
        "after": NEW_HEAD_SHA,
        "pull_request": pull_request(fork=False, head_sha=NEW_HEAD_SHA),
        "repository": BASE_REPO,
        "sender": user("alice"),
    }
    fork_opened = {
        "action": "opened",
        "number": 7,
        "pull_request": pull_request(fork=True, head_sha=HEAD_SHA),
        "repository": BASE_REPO,
        "sender": user("mallory"),
    }
    fork_sync = {
        "action": "synchronize",
        "number": 7,
        "before": HEAD_SHA,
        "after": NEW_HEAD_SHA,
        "pull_request": pull_request(fork=True, head_sha=NEW_HEAD_SHA),
        "repository": BASE_REPO,
        "sender": user("mallory"),
    }
    created = {
        "action": "created",
        "issue": pr_issue(),
        "comment": comment(1500, "alice", "/driftbot commit"),
        "repository": BASE_REPO,
        "sender": user("alice"),
    }
    edited = {
        "action": "edited",
        "changes": {"body": {"from": bot_comment_body(checked=False)}},
        "issue": pr_issue(),
        "comment": comment(1400, BOT, bot_comment_body(checked=True)),
        "repository": BASE_REPO,
        "sender": user("alice"),
    }
    run = {
        "action": "completed",
        "workflow_run": workflow_run(),
        "repository": BASE_REPO,
        "sender": user("mallory"),
        "workflow": {
            "id": 161335,
            "node_id": "W_1",
            "name": "driftbot",
            "path": ".github/workflows/driftbot.yml",
            "state": "active",
            "created_at": TIME,
            "updated_at": TIME,
            "url": f"{API}/repos/octo/shop/actions/workflows/161335",
            "html_url": f"{WEB}/octo/shop/blob/main/.github/workflows/driftbot.yml",
            "badge_url": f"{WEB}/octo/shop/workflows/driftbot/badge.svg",
        },
    }
    return {
        "pull_request_opened.json": opened,
        "pull_request_synchronize.json": sync,
        "pull_request_fork_opened.json": fork_opened,
        "pull_request_fork_synchronize.json": fork_sync,
        "issue_comment_created.json": created,
        "issue_comment_edited.json": edited,
        "workflow_run_completed.json": run,
    }


def build(name: str) -> dict[str, Any]:
    definition = FIXTURES[name]
    payload: dict[str, Any] = conform({"$ref": f"#/definitions/{definition}"}, scenes()[name])
    return payload


# ---------------------------------------------------------------- for tests


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def event_payload(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture with changes at dotted paths (`event_payload("issue_comment_created.json",
    **{"comment.body": "/driftbot commit", "issue.number": 3})`), validated against its webhook schema."""
    payload = copy.deepcopy(load(name))
    for dotted, value in changes.items():
        node = payload
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    errors = validate_webhook(payload, FIXTURES[name])
    if errors:
        raise AssertionError(
            f"{name} with {sorted(changes)} is no longer a valid {FIXTURES[name]} payload:\n" + "\n".join(errors[:20])
        )
    return payload


def main() -> int:
    EVENTS_DIR.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, definition in FIXTURES.items():
        payload = build(name)
        errors = validate_webhook(payload, definition)
        for e in errors[:30]:
            print(f"{name}: {e}")
        failed |= bool(errors)
        (EVENTS_DIR / name).write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        print(f"wrote {EVENTS_DIR / name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
