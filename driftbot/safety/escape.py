"""Escaping for everything that reaches Markdown: names, error text and file content are untrusted."""

from __future__ import annotations

import html
import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\x00-\x08\x0b-\x1f\x7f]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")  # `&`: no entity (`&commat;`) is decoded
# a character reference as HTML5 reads it (numeric ones even without the `;`); html.unescape decodes it alike
_ENTITY = re.compile(r"&(?:#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);?")
_BARE_AT = re.compile("@(?!\u200b)")
ZWSP = "\u200b"


def strip_control(text: str) -> str:
    """Remove ANSI/OSC escape sequences, control characters and HTML comment delimiters."""
    return _ANSI.sub("", text).replace("<!--", "<\u200b!--").replace("-->", "--\u200b>")


def nomention(text: str) -> str:
    """A ZWSP after every `@` GitHub could link, including one spelled as a character reference
    (`&#64;`, `&#x40;`, `&#0064;`, `&commat;`): Markdown decodes those before GitHub looks for mentions."""
    text = _ENTITY.sub(lambda m: "@" if html.unescape(m[0]) == "@" else m[0], text)
    return _BARE_AT.sub("@" + ZWSP, text)


def md(text: object) -> str:
    """Inline Markdown text: specials, `|`, HTML and @mentions neutralised."""
    return nomention(_MD_SPECIAL.sub(r"\\\1", strip_control(str(text))))


_MD_IN_HTML = str.maketrans({c: f"&#{ord(c)};" for c in "![]`|\\"})


def html_text(text: object) -> str:
    """Text inside HTML (`<summary>`, `<td>`): escaped, and the characters that start Markdown links,
    images, code and table cells as character references, so it stays text even where Markdown renders."""
    return nomention(html.escape(strip_control(str(text))).translate(_MD_IN_HTML))


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
