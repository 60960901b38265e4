"""downgrade_restores: exactly the catalog before, or one PostgreSQL re-spelled with the same meaning.

The catalogs are the ones PostgreSQL 15 gives for mlflow's runs.status (CHECK (status IN (...)) on a
VARCHAR) before and after `ALTER COLUMN status TYPE varchar(20)` and back (integration:
test_real_patterns.py::test_type_change_of_a_column_under_a_check_verifies).
"""

from __future__ import annotations

from driftbot.compare.catalog import Catalog, Column, Constraint, Table
from driftbot.suggest.generate import _restores_check

BEFORE = "CHECK (status::text = ANY (ARRAY['SCHEDULED'::character varying, 'FAILED'::character varying]::text[]))"
RESPELLED = (
    "CHECK (status::text = ANY (ARRAY['SCHEDULED'::character varying::text, 'FAILED'::character varying::text]))"
)


def catalog(check: str, status_type: str = "character varying(9)") -> Catalog:
    column = Column("status", status_type, True, None, None, None, None, None)
    table = Table(
        "public", "runs", None, {"status": column}, {"runs_status_check": Constraint("runs_status_check", "c", check)}
    )
    return Catalog(tables={("public", "runs"): table}, enums={}, sequences={})


def test_identical_catalog_restores() -> None:
    check = _restores_check(catalog(BEFORE), catalog(BEFORE))
    assert check.passed and check.detail == "the catalog is exactly as before the upgrade"


def test_a_definition_postgresql_re_spelled_with_the_same_meaning_restores_and_is_named() -> None:
    check = _restores_check(catalog(BEFORE), catalog(RESPELLED))
    assert check.passed, check.detail
    assert "public.runs.runs_status_check" in check.detail and "same meaning" in check.detail


def test_a_changed_definition_does_not_restore() -> None:
    changed = BEFORE.replace("'FAILED'", "'KILLED'")
    check = _restores_check(catalog(BEFORE), catalog(changed))
    assert not check.passed
    assert check.detail == "differs from before: check_changed public.runs.runs_status_check"


def test_a_re_spelling_next_to_a_real_change_does_not_restore() -> None:
    check = _restores_check(catalog(BEFORE), catalog(RESPELLED, status_type="character varying(20)"))
    assert not check.passed
    assert check.detail == "differs from before: column_type_changed public.runs.status"
