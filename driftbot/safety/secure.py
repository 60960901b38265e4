"""What a process that holds secrets does before untrusted code runs near it.

Two things, used by the action (before PR code runs in the worker) and by `detect --fix`
(before a live schema's copy is worked on):
- it makes itself non-dumpable, so its /proc files (environ, mem) are root's alone;
- it takes its secrets out of os.environ, which every child process and in-process project
  code would otherwise see (the copy in /proc/<pid>/environ is what non-dumpable protects).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
SECRET_NAMES = frozenset({"DRIFTBOT_LIVE_DATABASE_URL", "DRIFTBOT_DATABASE_URL", "GITHUB_TOKEN", "PGPASSWORD"})
_SECRET_PATTERN = re.compile(r"TOKEN|PASSWORD|SECRET", re.IGNORECASE)
_MIN_SECRET = 4  # shorter values would match half the environment by chance


def prctl(option: int, value: int, name: str) -> None:
    """prctl(2) on Linux, best effort: a failure is logged, never raised (other systems: nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(option, value, 0, 0, 0) != 0:
            log.debug("prctl(%s, %s) failed: errno %s", name, value, ctypes.get_errno())


def protect_process() -> None:
    """Make this process's /proc files (environ, mem) unreadable to its children, same user or not."""
    prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")


def secret_variables(environ: Mapping[str, str], secret_values: Iterable[str | None]) -> list[str]:
    """Names of the variables that are, or hold, a secret: by name, or by a value containing one."""
    values = [v for v in secret_values if v and len(v) >= _MIN_SECRET]
    return [
        name
        for name, value in environ.items()
        if name.upper() in SECRET_NAMES or _SECRET_PATTERN.search(name) or any(secret in value for secret in values)
    ]


@contextmanager
def secrets_removed(secret_values: Iterable[str | None]) -> Iterator[list[str]]:
    """os.environ without its secrets for the block (children and project code see none); restored
    afterwards, because the caller (a CLI, a test) owns its environment."""
    protect_process()
    removed = {name: os.environ.pop(name) for name in secret_variables(os.environ, secret_values)}
    try:
        yield sorted(removed)
    finally:
        os.environ.update(removed)
