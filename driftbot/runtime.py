"""The process itself: SIGTERM, and the interpreter's fixed cost with a project's models loaded.

`stop_on_sigterm` makes a SIGTERM (a cancelled job, `docker stop`) raise `Terminated`, so the
scratch servers and databases are removed on the way out (CLI and action alike).

A project of 1,000 mapped classes holds millions of objects in reference cycles. The collector's
default thresholds walk them again and again while they are created (a quarter of the models'
import time), and interpreter teardown walks them once more (~4 s measured at 1,000 classes) for
nothing: the process ends right after. `tune_gc` and `exit_now` cut both; what a run writes is
flushed first, and no state outlives the process, so the behaviour is the same.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from driftbot.errors import Terminated

# gen0 every 50,000 allocations instead of 700: young-generation passes stay cheap, and full
# passes (which walk every object, the models' included) come far less often
GC_THRESHOLDS = (50_000, 20, 20)


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread: context managers clean up."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def tune_gc() -> None:
    """Fewer collections while a project's models are imported; what exists now is never walked again."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def exit_now(code: int) -> NoReturn:
    """End the process with `code` once logs and standard streams are flushed, skipping teardown.

    Only for the very end of a command: every file it writes is closed and every scratch
    database and server is gone by then (they are context managers).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the status Python itself would end with
            code = code or 120
    os._exit(code)


@contextmanager
def project_bytecode(prefix: Path | None) -> Iterator[None]:
    """Python compiles what the project imports (its revision files, its models: 0.65 s at 300
    revisions and 1,000 models) into `prefix`, never into `__pycache__` beside its sources; None
    (`--no-cache`) writes nothing. PYTHONDONTWRITEBYTECODE is honoured either way."""
    saved = sys.pycache_prefix, sys.dont_write_bytecode
    if prefix is None:
        sys.dont_write_bytecode = True
    elif not sys.dont_write_bytecode:
        sys.pycache_prefix = str(prefix)
    try:
        yield
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = saved
