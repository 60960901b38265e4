"""The project's own output while its code runs (env.py's logging, alembic's `Running upgrade` lines): quiet by default.

alembic.ini's logging sections, as `alembic init` writes them, set alembic's logger to INFO and
env.py's `fileConfig()` gives the root logger a handler on `sys.stderr`: 40 lines on a small
project (230 at 200 tables) before driftbot's report, with the database URL where an env.py logs
it. While project code runs, `sys.stderr` and `sys.stdout` are a capture: `fileConfig()` binds its
StreamHandler to whatever `sys.stderr` is when it runs, so the project's logging configuration is
applied as it is and only its output is kept back (a `print()` in env.py cannot corrupt
`--format json` either). A failing step's error quotes the last lines, masked. With `--verbose`
(and `--debug`) each line goes on to stderr as it is written, masked as well.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from driftbot.safety.masking import scrub

TAIL_LINES = 20  # of a failing step, in its error
_MAX_LINE = 500  # characters of one quoted line: a dumped statement can be a megabyte

_shown = False


def show(on: bool) -> None:
    """`--verbose`: the project's output goes to the terminal (for this process)."""
    global _shown
    _shown = on


class Capture(io.TextIOBase):
    """A text stream keeping the last lines written to it (the project's handlers hold it as their stream);
    `echo`: passing each line on to `real` instead, masked (whole lines: a password is never split)."""

    encoding = "utf-8"  # what code asking `sys.stderr.encoding` expects

    def __init__(self, real: TextIO | None = None, echo: bool = False) -> None:
        super().__init__()
        self._real = real
        self._echo = echo and real is not None
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""
        self._lock = threading.Lock()  # env.py may log from a worker thread (anyio, asyncio.to_thread)

    def write(self, text: str) -> int:
        with self._lock:
            *complete, self._partial = (self._partial + text).split("\n")
            self._take(complete)
        return len(text)

    def _take(self, lines: list[str]) -> None:
        if self._echo and self._real is not None:
            self._real.write("".join(scrub(line) + "\n" for line in lines))
            self._real.flush()
        else:
            self._lines.extend(line.rstrip() for line in lines if line.strip())

    def finish(self) -> None:
        """The step is over: a last line without its newline counts too."""
        with self._lock:
            if self._partial:
                self._take([self._partial])
                self._partial = ""

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:  # faulthandler, subprocess(stderr=sys.stderr): the real descriptor
        if self._real is None:
            raise io.UnsupportedOperation("fileno")
        return self._real.fileno()

    def tail(self) -> tuple[str, ...]:
        """The last lines written (at most TAIL_LINES), passwords masked; none when they were echoed."""
        with self._lock:
            lines = [*self._lines, *([self._partial.rstrip()] if self._partial.strip() and not self._echo else [])]
        return tuple(scrub(line[:_MAX_LINE]) for line in lines[-TAIL_LINES:])


@contextmanager
def captured() -> Iterator[Capture]:
    """`sys.stdout` and `sys.stderr` are a Capture while project code runs (echoed to stderr with `--verbose`)."""
    saved = sys.stdout, sys.stderr
    capture = Capture(sys.stderr, echo=_shown)  # the stream driftbot's own messages go to
    sys.stdout = sys.stderr = capture
    try:
        yield capture
    finally:
        sys.stdout, sys.stderr = saved
        capture.finish()


@contextmanager
def project_logging() -> Iterator[Capture]:
    """A step running env.py: its output captured, and driftbot's logging as it was afterwards.

    env.py usually calls fileConfig(), which replaces the root logger's handlers and disables
    every logger it does not name (driftbot's among them).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = {
        name: lg.disabled for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)
    }
    try:
        with captured() as capture:
            yield capture
    finally:
        root.handlers[:], root.level = handlers, level
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger) and name.startswith("driftbot"):
                lg.disabled = disabled.get(name, False)


def quoted(lines: tuple[str, ...], failed: str) -> str:
    """The lines, for the error message of what `failed` ("" when there are none)."""
    if not lines:
        return ""
    body = "\n".join(f"  {line}" for line in lines)
    return f"\nthe project's output before {failed} failed (last {len(lines)} lines; --verbose shows all):\n{body}"
