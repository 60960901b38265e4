"""Escaping for everything that reaches Markdown: names, error text and file content are untrusted."""

from __future__ import annotations

import html
import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\x00-\x08\x0b-\x1f\x7f]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
_MENTION = re.compile(r"@(?=[\w-])|&#0*64;|&#x0*40;", re.IGNORECASE)
ZWSP = "\u200b"


def strip_control(text: str) -> str:
    """Remove ANSI/OSC escape sequences, control characters and HTML comment delimiters."""
    return _ANSI.sub("", text).replace("<!--", "<\u200b!--").replace("-->", "--\u200b>")


def nomention(text: str) -> str:
    return _MENTION.sub(lambda m: "@" + ZWSP, text)


def md(text: object) -> str:
    """Inline Markdown text: specials, `|`, HTML and @mentions neutralised."""
    return nomention(_MD_SPECIAL.sub(r"\\\1", strip_control(str(text))))


def html_text(text: object) -> str:
    return nomention(html.escape(strip_control(str(text))))


def _longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def code(text: object) -> str:
    """Inline code whose backtick fence is longer than any backtick run inside."""
    s = nomention(strip_control(str(text)).replace("\n", " "))
    fence = "`" * (_longest_run(s, "`") + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def fence(text: object, lang: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside."""
    s = nomention(strip_control(str(text)))
    ticks = "`" * max(3, _longest_run(s, "`") + 1)
    return f"{ticks}{lang}\n{s.rstrip()}\n{ticks}"


def table_code(text: object) -> str:
    """Inline code inside a GFM table cell: GFM splits cells on `|` before it sees code spans."""
    return code(text).replace("|", "\\|")


_UNSAFE_EXACT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def exact_safe(text: str) -> bool:
    """`text` can be shown byte for byte in a code block: no control characters (tab and LF aside)."""
    return not _UNSAFE_EXACT.search(text)


def fence_exact(text: str, lang: str = "") -> str:
    """A fenced block that keeps `text` byte for byte (a file the commit command copies from the comment).

    Only the fence adapts (longer than any backtick run, so it cannot be closed from inside);
    Markdown, HTML and mentions do not render in a code block. Callers check `exact_safe` first.
    """
    if not exact_safe(text):
        raise ValueError("text with control characters cannot be shown exactly")
    ticks = "`" * max(3, _longest_run(text, "`") + 1)
    return f"{ticks}{lang}\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}{ticks}"
