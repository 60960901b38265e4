"""Untrusted text that reaches Markdown cannot inject markup, HTML, comments or mentions."""

from __future__ import annotations

from driftbot.safety import escape


def test_code_fence_is_longer_than_any_backtick_run() -> None:
    assert escape.code("a``b") == "```a``b```"
    assert escape.fence("x\n````\ny").startswith("`````\n")


def test_md_neutralises_markup_pipes_and_mentions() -> None:
    out = escape.md("<script>|**@org/team**")
    assert "<script>" not in out and "\\|" in out and "@org" not in out


def test_html_comment_delimiters_and_ansi_are_removed() -> None:
    out = escape.strip_control("\x1b[31mred\x1b[0m <!-- driftbot:comment v1 -->")
    assert "\x1b" not in out and "<!--" not in out and "-->" not in out


MENTIONS = [
    "@org/team",
    "&commat;org",
    "&#64;org",
    "&#x40;org",
    "&#0064;org",
    "&#X00040;org",
    "&#64org",
    "@&#111;rg",
    "x&commat;org",
]


def test_nomention_defuses_every_at_github_would_render_entities_included() -> None:
    """Markdown decodes `&commat;`, `&#64;`, `&#x40;` ... before GitHub looks for mentions."""
    import html
    import re

    for raw in MENTIONS:
        out = escape.nomention(raw)
        decoded = html.unescape(out)
        assert not re.search(rf"@(?!{escape.ZWSP})", decoded), (raw, out)
        assert "@" + escape.ZWSP in decoded, (raw, out)
    assert escape.nomention("&amp;commat;org") == "&amp;commat;org"  # renders as the text "&commat;org"
    assert escape.nomention("&#640;") == "&#640;" and escape.nomention("&lt;") == "&lt;"
    assert escape.nomention("&COMMAT;") == "&COMMAT;"  # names are case-sensitive: not an entity
    assert escape.nomention(escape.nomention("@x")) == "@" + escape.ZWSP + "x"  # idempotent


def shown(markdown: str) -> str:
    """Inline Markdown's text as a renderer shows it: backslash escapes and entities, in one pass (CommonMark)."""
    import html
    import re

    return re.sub(
        r"\\([!-/:-@\[-`{-~])|&(?:#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);",
        lambda m: m[1] if m[1] is not None else html.unescape(m[0]),
        markdown,
    )


def test_md_and_html_leave_no_entity_that_decodes_to_at() -> None:
    import html
    import re

    for raw in MENTIONS:
        for out in (shown(escape.md(raw)), html.unescape(escape.html_text(raw))):
            assert not re.search(rf"@(?!{escape.ZWSP})", out), (raw, out)
    assert shown(escape.md("&commat;org")) in ("&commat;org", "@" + escape.ZWSP + "org")
