"""Workflow commands, step outputs and the job summary (pure helpers: files and strings, no API).

The escaping is the Actions toolkit's (as py-cov has it): data escapes `%`, CR and LF;
properties also `:` and `,`. Commands are returned as strings; the caller prints them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

Level = Literal["notice", "warning", "error"]
MAX_SUMMARY = 1024 * 1024  # GitHub rejects a step summary over 1 MiB
SUMMARY_CUT = (
    "\n\n> [!WARNING]\n> The rest of this summary was cut: GitHub allows 1 MiB per step. See the report artifact.\n"
)


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def plain(text: str) -> str:
    """Text for the log outside a command: one line (CR and LF escaped as data) that cannot start a
    command (the runner reads any line starting with `::`, after spaces, as one)."""
    line = escape_data(text)
    stripped = line.lstrip()
    return line if not stripped.startswith("::") else line[: len(line) - len(stripped)] + "%3A" + stripped[1:]


def command(name: str, value: str = "", **properties: str | int | None) -> str:
    """`::name key=value,...::value`, every part escaped (None properties are left out)."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(value)}"


def annotation(
    level: Level, message: str, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """An annotation command: shown on `file:line` in the PR's diff and in the run's summary."""
    if level not in ("notice", "warning", "error"):
        raise ValueError(f"annotation level must be notice, warning or error, not {level!r}")
    return command(level, message, file=file, line=line if file else None, title=title)


def add_mask(value: str) -> str:
    """`::add-mask::` lines for `value` (one per line of a multi-line secret, as the runner masks lines)."""
    return "\n".join(command("add-mask", part) for part in value.splitlines() if part.strip())


def group(title: str) -> str:
    return command("group", title)


def endgroup() -> str:
    return "::endgroup::"


def _env_file(variable: str, path: Path | None) -> Path | None:
    if path is not None:
        return path
    value = os.environ.get(variable)
    return Path(value) if value else None


def format_output(name: str, value: object) -> str:
    """One GITHUB_OUTPUT entry: `name=value` (non-strings as JSON), or a heredoc for multi-line text."""
    if not name or any(c in name for c in "=\r\n<"):
        raise ValueError(f"output name {name!r} is not usable")
    text = value if isinstance(value, str) else json.dumps(value)
    if "\n" not in text and "\r" not in text:
        return f"{name}={text}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in text:  # the runner ends the value at the first line equal to the delimiter
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{text}\n{delimiter}\n"


def set_output(name: str, value: object, *, path: Path | None = None) -> bool:
    """Append an output to `$GITHUB_OUTPUT` (or `path`); False when there is no such file (not in Actions)."""
    target = _env_file("GITHUB_OUTPUT", path)
    if target is None:
        return False
    with target.open("a", encoding="utf-8") as f:
        f.write(format_output(name, value))
    return True


def add_job_summary(markdown: str, *, path: Path | None = None) -> bool:
    """Append Markdown to `$GITHUB_STEP_SUMMARY` (or `path`), cut to keep the file under 1 MiB.

    Returns False when there is no summary file or the text had to be cut.
    """
    target = _env_file("GITHUB_STEP_SUMMARY", path)
    if target is None:
        return False
    used = target.stat().st_size if target.exists() else 0
    data = markdown.encode("utf-8")
    whole = used + len(data) <= MAX_SUMMARY
    if not whole:
        room = MAX_SUMMARY - used - len(SUMMARY_CUT.encode())
        data = (data[: max(room, 0)].decode("utf-8", "ignore") + SUMMARY_CUT).encode() if room > 0 else b""
    with target.open("ab") as f:
        f.write(data)
    return whole


class GitHubFormatter(logging.Formatter):
    """Log records as workflow commands: DEBUG → `::debug::`, WARNING → `::warning::`, ERROR → `::error::`.

    INFO stays plain text (a `::notice::` per line would flood the run's annotations), one line
    through `plain`: messages carry untrusted text (paths, branches, error messages), and a
    newline in one must not start a command of its own.
    """

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.ERROR:
            return command("error", text)
        if record.levelno >= logging.WARNING:
            return command("warning", text)
        if record.levelno <= logging.DEBUG:
            return command("debug", text)
        return plain(text)


@contextmanager
def grouped(title: str, emit: Callable[[str], object] = print) -> Iterator[None]:
    """A collapsible `::group::` around what is logged inside (one per pipeline stage)."""
    emit(group(title))
    try:
        yield
    finally:
        emit(endgroup())
