"""Identifiers and literals in the SQL driftbot writes: quoted once, here, by PostgreSQL's rules.

Names come from catalogs as (schema, name) pairs, and a live database's names are untrusted
(DESIGN.md, trust boundary): they are never split, parsed or pasted from rendered text. What
PostgreSQL renders itself (pg_get_expr, pg_get_constraintdef, format_type) is SQL already.
"""

from __future__ import annotations

import re

# PostgreSQL 15's keywords that are not UNRESERVED (pg_get_keywords() catcode <> 'U'): quote_ident
# quotes these; plus the ones later majors added, so a name is never left bare where it would be a keyword
KEYWORDS = frozenset(
    """
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both
case cast char character check coalesce collate collation column concurrently constraint create cross
current_catalog current_date current_role current_schema current_time current_timestamp current_user dec
decimal default deferrable desc distinct do else end except exists extract false fetch float for foreign
freeze from full grant greatest group grouping having ilike in initially inner inout int integer intersect
interval into is isnull join lateral leading least left like limit localtime localtimestamp national natural
nchar none normalize not notnull null nullif numeric offset on only or order out outer overlaps overlay
placing position precision primary real references returning right row select session_user setof similar
smallint some substring symmetric table tablesample then time timestamp to trailing treat trim true union
unique user using values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement
xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
system_user json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar
json_serialize json_table json_value merge_action
""".split()
)

_BARE = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"\w")


def quote_ident(name: str) -> str:
    """`name` as PostgreSQL's quote_ident() writes it: bare when it may be, else double-quoted."""
    if "\0" in name:
        raise ValueError("an identifier cannot contain NUL")
    if _BARE.fullmatch(name) and name not in KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    """schema.name, each part quoted (no schema: the name alone, found through search_path)."""
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def literal(value: str | None) -> str:
    """A string constant as quote_literal() writes it (E'' when it holds a backslash), or NULL."""
    if value is None:
        return "NULL"
    if "\0" in value:
        raise ValueError("a string constant cannot contain NUL")
    quoted = "'" + value.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in value else quoted


def text_escaped(sql: str) -> str:
    """`sql` such that SQLAlchemy's text() (which op.execute applies) gives back exactly `sql`.

    text() takes `:word` (not after `:`, a word character or a backslash, not before `:` or a
    word character) as a bind parameter, then turns `\\:word` (not before `:` or a word character)
    into `:word`. A backslash goes before each colon that would be either; the decision for a
    colon depends on what follows it in the output, so it is made right to left.
    """
    escape = [False] * len(sql)
    for i in range(len(sql) - 1, -1, -1):
        if sql[i] != ":":
            continue
        end = i + 1
        while end < len(sql) and _WORD.match(sql[end]):
            end += 1
        unescapes = end == len(sql) or sql[end] != ":" or escape[end]  # what follows lets `\\:word` match
        before = sql[i - 1] if i else ""
        binds = end > i + 1 and before != "\\" and before != ":" and not _WORD.match(before or " ")
        escape[i] = unescapes and (binds or before == "\\")
    return "".join("\\" + c if escape[i] else c for i, c in enumerate(sql))
