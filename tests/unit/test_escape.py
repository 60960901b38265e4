"""Untrusted text that reaches Markdown cannot inject markup, HTML, comments or mentions."""

from __future__ import annotations

from driftbot import escape


def test_code_fence_is_longer_than_any_backtick_run() -> None:
    assert escape.code("a``b") == "```a``b```"
    assert escape.fence("x\n````\ny").startswith("`````\n")


def test_md_neutralises_markup_pipes_and_mentions() -> None:
    out = escape.md("<script>|**@org/team**")
    assert "<script>" not in out and "\\|" in out and "@org" not in out


def test_html_comment_delimiters_and_ansi_are_removed() -> None:
    out = escape.strip_control("\x1b[31mred\x1b[0m <!-- driftbot:comment v1 -->")
    assert "\x1b" not in out and "<!--" not in out and "-->" not in out
