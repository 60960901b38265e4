"""The GitHub Action, top to bottom: settings → mode → run the mode → exit code (DESIGN.md).

`entrypoint.py` (the container's ENTRYPOINT) only calls `main()`. Errors with a message for
the user become one `::error::` line and their exit code; anything else is a bug: one line,
where to report it, exit 4.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from sqlalchemy.engine import make_url

from driftbot import __version__
from driftbot.action.check import run_check
from driftbot.action.commit import run_commit
from driftbot.action.modes import find_mode
from driftbot.action.publish import run_publish
from driftbot.action.settings import Mode, Settings
from driftbot.action.worker import git_dirs_closed, protect_process
from driftbot.errors import EXIT_INFRA, ISSUES_URL, ConfigError, DriftbotError, Terminated
from driftbot.github.events import load_event
from driftbot.github.workflow import GitHubFormatter, add_mask, annotation
from driftbot.runtime import stop_on_sigterm

log = logging.getLogger("driftbot")

RUN: dict[Mode, Callable[[Settings, Mapping[str, Any]], int]] = {
    "check": run_check,
    "publish": run_publish,
    "commit": run_commit,
}


def main(environ: Mapping[str, str] | None = None) -> int:
    protect_process()  # before anything else: PR code must not read our /proc/<pid>/environ
    _logging(debug=False)
    stop_on_sigterm()
    try:
        settings = _settings(environ)
        payload = load_event(settings.event_path)
        mode = _mode(settings, payload)
        # the checkout's .git (token inside) stays closed to the worker's account until the run ends
        with git_dirs_closed(settings.workspace) if mode == "check" else nullcontext():
            return RUN[mode](settings, payload)
    except DriftbotError as exc:
        print(annotation("error", str(exc), title="driftbot"), flush=True)
        return exc.exit_code
    except Terminated:
        print("driftbot: stopped by SIGTERM; scratch databases and servers were removed", flush=True)
        return 143
    except Exception as exc:
        log.debug("internal error", exc_info=exc)
        print(
            annotation(
                "error",
                f"driftbot internal error: {type(exc).__name__}; run with debug logging "
                f"(re-run with ACTIONS_STEP_DEBUG) and report it at {ISSUES_URL}",
                title="driftbot",
            ),
            flush=True,
        )
        return EXIT_INFRA


def _settings(environ: Mapping[str, str] | None) -> Settings:
    """The inputs and context, read; logging at their level; the database password masked."""
    settings = Settings.from_environ(environ)
    _logging(settings.debug)
    _mask(settings)
    return settings


def _mode(settings: Settings, payload: Mapping[str, Any]) -> Mode:
    """What this run does, from the event (and the `mode` input); publish and commit need the token."""
    mode = find_mode(settings.event_name, payload, settings.mode)
    if mode in ("publish", "commit") and not settings.github_token.value:
        raise ConfigError(f"the {mode} mode needs the github-token input")
    log.info("driftbot %s: %s mode (%s event, %s)", __version__, mode, settings.event_name, settings.repository)
    return mode


def _logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)  # the runner reads workflow commands from stdout
    handler.setFormatter(GitHubFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("urllib3", "github"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.WARNING)


def _mask(settings: Settings) -> None:
    """The database password, in case the URL was written into the workflow rather than a secret.

    Not the token: `github.token` and `secrets.*` are masked by the runner already, and an
    `::add-mask::` line would put it in our output (the runner hides it, a copied log may not).
    """
    if settings.database_url is not None:
        password = make_url(settings.database_url.value).password
        if password:
            print(add_mask(str(password)), flush=True)
