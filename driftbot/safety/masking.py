"""The one masker: URLs and texts with their passwords hidden, before anything is printed or reported.

Every password driftbot learns (the scratch server's, `--database-url`'s, the live database's) is
registered here, in each spelling it can take in a text (as given, URL-encoded, `%`-doubled for
configparser); `scrub` hides them wherever they appear, e.g. in an error that env.py raised
while quoting the URL back.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL, make_url

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()
_QUERY_PASSWORD = re.compile(r"(?i)(\bpassword=)[^&\s'\"]+")
_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)")


def register_secret(value: str | None) -> None:
    """Mask `value` from now on, in every spelling a URL or a configparser gives it."""
    if not value or len(value) < _MIN_LENGTH:
        return
    _secrets.update({value, quote(value, safe=""), quote_plus(value), value.replace("%", "%%")})


def register_url(url: str | URL | None) -> None:
    if url is None:
        return
    try:
        parsed = make_url(url)
    except Exception:
        return
    register_secret(None if parsed.password is None else str(parsed.password))
    query_password = parsed.query.get("password")
    register_secret(query_password if isinstance(query_password, str) else None)


def mask_url(url: str | URL) -> str:
    """The URL with its password hidden, in the user part and in a `?password=` parameter."""
    parsed = make_url(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": MASK})
    return parsed.render_as_string(hide_password=True)


def scrub(text: str) -> str:
    """`text` with every registered secret, and any password in a URL it quotes, masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", text)


class ScrubbingFormatter(logging.Formatter):
    """Log lines (tracebacks included) with every registered secret masked."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))
