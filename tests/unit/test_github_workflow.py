"""Workflow commands, outputs and the job summary: driftbot.github.workflow (pure, no API)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from driftbot.github import workflow
from driftbot.github.workflow import (
    MAX_SUMMARY,
    GitHubFormatter,
    add_job_summary,
    add_mask,
    annotation,
    escape_data,
    escape_property,
    set_output,
)


def test_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert escape_property("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext%3A a%2Cb"
    assert escape_data("%0A") == "%250A"  # an escape sequence in the input is not decoded by the runner


def test_annotation_line() -> None:
    line = annotation("error", "column missing:\nusers.nickname", file="app/models.py", line=12, title="drift, high")
    assert line == "::error file=app/models.py,line=12,title=drift%2C high::column missing:%0Ausers.nickname"
    assert annotation("warning", "no file") == "::warning::no file"
    assert annotation("notice", "line without file", line=3) == "::notice::line without file"
    with pytest.raises(ValueError):
        annotation("debug", "x")  # type: ignore[arg-type]


def test_add_mask_masks_every_line() -> None:
    assert add_mask("s3cr%t") == "::add-mask::s3cr%25t"
    assert add_mask("line1\nline2\n") == "::add-mask::line1\n::add-mask::line2"


def read_outputs(path: Path) -> dict[str, str]:
    """Parse GITHUB_OUTPUT the way the runner does (name=value and name<<DELIM heredocs)."""
    out: dict[str, str] = {}
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines) and lines[i]:
        if "<<" in lines[i] and ("=" not in lines[i] or lines[i].index("<<") < lines[i].index("=")):
            name, delim = lines[i].split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = lines[i].split("=", 1)
            out[name] = value
            i += 1
    return out


def test_outputs_single_line_json_and_heredoc(tmp_path: Path) -> None:
    path = tmp_path / "output"
    assert set_output("drift", True, path=path)
    assert set_output("findings", 3, path=path)
    assert set_output("report-path", "/github/workspace/driftbot-report.json", path=path)
    tricky = "line one\nghadelimiter_x\nEOF\nlast"
    assert set_output("migration", tricky, path=path)
    outputs = read_outputs(path)
    assert outputs == {
        "drift": "true",
        "findings": "3",
        "report-path": "/github/workspace/driftbot-report.json",
        "migration": tricky,
    }
    delimiter = re.search(r"migration<<(\S+)", path.read_text())
    assert delimiter is not None and delimiter.group(1) not in tricky


def test_output_outside_actions_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert set_output("drift", False) is False


def test_output_name_must_be_usable(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        set_output("a=b", 1, path=tmp_path / "o")


def test_job_summary_appends_and_is_guarded_at_one_mib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    assert add_job_summary("# driftbot\n")
    assert add_job_summary("é" * 100 + "\n")
    assert path.read_text(encoding="utf-8") == "# driftbot\n" + "é" * 100 + "\n"
    assert add_job_summary("x" * MAX_SUMMARY) is False
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size <= MAX_SUMMARY
    assert text.startswith("# driftbot\n") and text.endswith(workflow.SUMMARY_CUT)
    assert add_job_summary("more") is False  # full: nothing fits any more
    assert path.stat().st_size <= MAX_SUMMARY


def test_formatter_maps_levels_to_commands() -> None:
    formatter = GitHubFormatter("%(message)s")

    def fmt(level: int, msg: str) -> str:
        return formatter.format(logging.LogRecord("driftbot", level, __file__, 1, msg, None, None))

    assert fmt(logging.DEBUG, "catalog read in 0.1s") == "::debug::catalog read in 0.1s"
    assert fmt(logging.INFO, "3 findings") == "3 findings"
    assert fmt(logging.WARNING, "comment not posted:\n403") == "::warning::comment not posted:%0A403"
    assert fmt(logging.ERROR, "GitHub API down") == "::error::GitHub API down"
    assert fmt(logging.CRITICAL, "boom") == "::error::boom"


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
def test_untrusted_text_in_a_log_record_never_starts_a_workflow_command(level: int) -> None:
    """A migration path from a report or a comment, a branch, an error message: any of them may carry
    a newline, and the runner reads a line starting with `::` (after spaces) as a command."""
    formatter = GitHubFormatter("%(message)s")
    hostile = "migrations/versions/x\n::error::forged\r\n  ::add-mask::x\r::warning::y"
    for msg, args in (("committed %s to %s", (hostile, "main")), ("%s", ("::error::first line",))):
        out = formatter.format(logging.LogRecord("driftbot", level, __file__, 1, msg, args, None))
        assert "\n" not in out and "\r" not in out, out
        if level == logging.INFO:  # plain text: it must not start a command itself
            assert not out.lstrip().startswith("::"), out
        else:  # one command whose data carries the rest, escaped
            assert re.match(r"::(debug|warning|error)::", out), out
        assert "forged" in out or "first line" in out  # escaped, not dropped


def test_grouped_wraps_output() -> None:
    lines: list[str] = []
    with workflow.grouped("migrate: 3 revisions", lines.append):
        lines.append("applied 0001")
    assert lines == ["::group::migrate: 3 revisions", "applied 0001", "::endgroup::"]
