"""sqlnames.py: the one quoting function, and SQL text that SQLAlchemy's text() leaves as it is."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from driftbot.safety.sqlnames import literal, qualified, quote_ident, text_escaped
from driftbot.suggest.fixops import execute

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
COLONS = st.lists(st.sampled_from([":", "::", "\\", "\\:", ":x", "a", " ", "'", "$", "é", "%"]), max_size=12).map(
    "".join
)


def unquoted(quoted: str) -> str:
    assert quoted.startswith('"') and quoted.endswith('"')
    inner = quoted[1:-1]
    assert '"' not in inner.replace('""', "")  # every quote inside is doubled: the identifier cannot end early
    return inner.replace('""', '"')


@settings(max_examples=500, database=None)
@given(name=TEXT.filter(bool))
@example(name="x.y;COPY(SELECT)TO PROGRAM $$touch /tmp/pwn$$;--")
@example(name='a"b')
def test_quote_ident_round_trips_any_name(name: str) -> None:
    quoted = quote_ident(name)
    assert quoted == name if quoted[0] != '"' else unquoted(quoted) == name
    assert qualified(name, name) == f"{quoted}.{quoted}" and qualified(None, name) == quoted


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("users", "users"),
        ("user", '"user"'),
        ("Users", '"Users"'),
        ("int", '"int"'),
        ("a$b", '"a$b"'),
        ("_x1", "_x1"),
        ("é", '"é"'),
        ("x.y", '"x.y"'),
        ('"', '""""'),
    ],
)
def test_quote_ident_is_bare_only_where_postgresql_is(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


def test_nul_is_refused() -> None:
    with pytest.raises(ValueError):
        quote_ident("a\0b")
    with pytest.raises(ValueError):
        literal("a\0b")


@settings(max_examples=1000, database=None)
@given(sql=st.one_of(TEXT, COLONS))
@example(sql="nextval('x'::regclass)")
@example(sql="SELECT ':x', '\\:y', 'a:b', $$::z$$")
def test_text_escaped_survives_sqlalchemy_text(sql: str) -> None:
    compiled = str(text(text_escaped(sql)).compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert compiled == sql.replace("%", "%%")  # psycopg's paramstyle: % doubled, undone by the driver


def test_ops_read_as_written() -> None:
    assert (
        execute("ALTER TABLE t ALTER c SET DEFAULT nextval('s'::regclass)")
        == "op.execute(\"ALTER TABLE t ALTER c SET DEFAULT nextval('s'::regclass)\")"
    )


@given(value=TEXT)
@settings(database=None)
def test_literal_round_trips(value: str) -> None:
    quoted = literal(value)
    if quoted.startswith("E"):
        assert quoted[2:-1].replace("''", "'").replace("\\\\", "\\") == value
    else:
        assert quoted[1:-1].replace("''", "'") == value and "\\" not in value
