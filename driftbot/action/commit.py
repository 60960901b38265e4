"""The `commit` mode: `/driftbot commit` (or the ticked checkbox) commits the migration that
driftbot's own comment carries. No PR code runs: the checks and the commit are
driftbot.github.commands'; this mode wires the event and the token to it and reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from driftbot.action.settings import Settings
from driftbot.errors import EXIT_CLEAN
from driftbot.github.client import make_github, viewer_login
from driftbot.github.commands import handle_commit_command
from driftbot.github.events import IssueCommentEvent
from driftbot.github.workflow import add_job_summary, set_output

log = logging.getLogger(__name__)


def run_commit(settings: Settings, payload: Mapping[str, Any]) -> int:
    event = IssueCommentEvent.from_payload(payload)
    gh = make_github(settings.github_token.value, settings.api_url)
    outcome = handle_commit_command(
        gh,
        event,
        repo=settings.repository,
        bot_login=viewer_login(gh),
        comment_id=settings.comment_id,
        run_url=settings.run_url,
    )
    if outcome.reason == "ignored":
        log.info("not a driftbot commit command: nothing to do")
        return EXIT_CLEAN
    log.info("commit command: %s%s", outcome.reason, f" ({outcome.new_sha})" if outcome.new_sha else "")
    add_job_summary(f"### driftbot commit: {outcome.reason}\n\n{outcome.reply}\n", path=settings.summary_file)
    set_output("migration-path", outcome.path or "", path=settings.output_file)
    return EXIT_CLEAN
