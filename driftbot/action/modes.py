"""Which of the three things the action does, from the event that started the workflow.

- `check`: run the PR's migrations and models (in the token-free worker), then report:
  comment, status, summary, outputs. Also for push, schedule and manual runs (no comment).
- `publish`: a `workflow_run` after a fork PR's check: post the comment and status from the
  uploaded report, never running PR code.
- `commit`: an `issue_comment` (`/driftbot commit`, or the ticked checkbox): commit the
  migration driftbot's own comment carries, never running PR code.
"""

from __future__ import annotations

from collections.abc import Mapping

from driftbot.action.settings import Mode
from driftbot.errors import ConfigError

CHECK_EVENTS = frozenset({"pull_request", "push", "workflow_dispatch", "schedule", "merge_group"})


def find_mode(event_name: str, payload: Mapping[str, object], override: Mode | None = None) -> Mode:
    if override is not None:
        return override
    if event_name in CHECK_EVENTS:
        return "check"
    if event_name == "workflow_run":
        return "publish"
    if event_name == "issue_comment":
        return "commit"  # comments that are not a driftbot command on a PR are let go there
    if event_name == "pull_request_target":
        raise ConfigError(
            "driftbot does not run on pull_request_target: that event gives PR code a write token",
            hint="check on `pull_request`, publish fork results from a `workflow_run` workflow "
            "(see examples/workflows/driftbot-fork-publish.yml)",
        )
    raise ConfigError(
        f"driftbot does not know what to do on a {event_name!r} event",
        hint="run it on pull_request (check), workflow_run (publish) or issue_comment (commit), "
        "or set the `mode` input",
    )
