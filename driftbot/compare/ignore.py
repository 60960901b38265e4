"""driftbot's own ignore rules (`[tool.driftbot.ignore]`): findings to leave out, by glob pattern.

They come after the project's `include_name` / `include_object` hooks and speak the
findings' own vocabulary, so a rule can say what the hooks cannot (a finding kind, say):

- `schemas`: `audit`, `tmp_*`                          the finding's schema
- `tables`:  `legacy_*` (any schema), `audit.*`         the table (or enum, sequence) it is about
- `columns`: `updated_at`, `*.updated_at`, `public.users.password_hash`   column findings
- `kinds`:   `column_comment_changed`, `index_*`       the finding's kind

Patterns are `fnmatch` globs, case-sensitive like PostgreSQL's identifiers; a pattern with
fewer dots than the full name matches its last parts (`orders.note` is `*.orders.note`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from driftbot.compare.findings import Finding

RULE_KEYS = ("schemas", "tables", "columns", "kinds")


@dataclass(frozen=True)
class IgnoreRules:
    schemas: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.schemas or self.tables or self.columns or self.kinds)

    def ignores(self, finding: Finding) -> bool:
        f = finding
        if _any(self.kinds, f.kind):
            return True
        if f.schema is not None and _any(self.schemas, f.schema):
            return True
        table = f.table if f.table is not None else (f.name if f.object_type in _TABLE_LIKE else None)
        if table is not None and _any_dotted(self.tables, (f.schema or "", table)):
            return True
        return (
            f.object_type == "column"
            and f.table is not None
            and f.name is not None
            and _any_dotted(self.columns, (f.schema or "", f.table, f.name))
        )


# objects named like a table (no table of their own): a `tables` rule covers them too
_TABLE_LIKE = {"table", "enum", "sequence", "type"}


def _any(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


def _any_dotted(patterns: Iterable[str], parts: tuple[str, ...]) -> bool:
    """`b.c` matches the last two parts of `a.b.c`; a pattern never matches across a dot."""
    for pattern in patterns:
        pieces = pattern.split(".")
        if len(pieces) <= len(parts) and all(
            fnmatchcase(value, piece) for value, piece in zip(parts[-len(pieces) :], pieces, strict=True)
        ):
            return True
    return False


def apply_ignore_rules(findings: list[Finding], rules: IgnoreRules) -> list[Finding]:
    if not rules:
        return findings
    return [f for f in findings if not rules.ignores(f)]
