"""A run's status and exit code (report.outcome) from its findings, on plain catalogs and values.

DESIGN.md: 0 no drift · 1 drift · 3 the project could not be checked (multiple heads too) · the
stage's own code for an error (4: infrastructure).
"""

from __future__ import annotations

import pytest
from catalogs import catalog, col, findings, index, table

from driftbot.compare.findings import Finding
from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT, EXIT_INFRA, EXIT_UNCHECKABLE
from driftbot.report.model import ErrorInfo, outcome

ID = col("id", nullable=False)
USERS = catalog(table("users", ID, col("email", "text")))
HEADS = Finding("multiple_heads", "migrations", "high", "0002a, 0002b", None, object_type="migrations")
ERROR = ErrorInfo("postgres", "no PostgreSQL could be started")


def test_no_difference_is_clean() -> None:
    assert outcome(tuple(findings(USERS, USERS)), None) == ("clean", EXIT_CLEAN)


def test_a_difference_is_drift() -> None:
    drift = tuple(findings(USERS, catalog(table("users", ID, col("email", "text"), col("nickname", "text")))))
    assert outcome(drift, None) == ("drift", EXIT_DRIFT)


def test_a_naming_difference_is_drift_too() -> None:
    """A renamed index is low severity, still drift."""
    m = catalog(table("users", ID, indexes=[index("ix_a", "users", "id")]))
    o = catalog(table("users", ID, indexes=[index("ix_b", "users", "id")]))
    [low] = findings(m, o)
    assert (low.kind, low.severity) == ("index_renamed", "low")
    assert outcome((low,), None) == ("drift", EXIT_DRIFT)


def test_notes_alone_are_clean() -> None:
    """Equivalent spellings (info) are no drift."""
    m = catalog(table("t", col("at", "timestamp with time zone", default="now()")))
    o = catalog(table("t", col("at", "timestamp with time zone", default="CURRENT_TIMESTAMP")))
    notes = tuple(findings(m, o))
    assert [f.severity for f in notes] == ["info"]
    assert outcome(notes, None) == ("clean", EXIT_CLEAN)


def test_multiple_heads_cannot_be_checked_whatever_else_was_found() -> None:
    assert outcome((HEADS,), None) == ("error", EXIT_UNCHECKABLE)
    drift = Finding("column_missing", "public.users.nickname", "high", None, "text")
    assert outcome((drift, HEADS), None) == ("error", EXIT_UNCHECKABLE)
    assert outcome((HEADS,), None, synced=True) == ("error", EXIT_UNCHECKABLE)


@pytest.mark.parametrize("code", [EXIT_UNCHECKABLE, EXIT_INFRA])
def test_an_error_wins_with_its_stages_exit_code(code: int) -> None:
    drift = Finding("column_missing", "public.users.nickname", "high", None, "text")
    assert outcome((drift, HEADS), ERROR, code) == ("error", code)
    assert outcome((), ERROR, code, synced=True) == ("error", code)


def test_an_error_without_a_code_is_uncheckable() -> None:
    assert outcome((), ERROR) == ("error", EXIT_UNCHECKABLE)


def test_a_synced_database_is_clean_though_it_had_drift() -> None:
    drift = Finding("column_missing", "public.users.nickname", "high", None, "text")
    assert outcome((drift,), None, synced=True) == ("clean", EXIT_CLEAN)
