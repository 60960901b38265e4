"""One fixture project per kind of drift, checked end to end on a real PostgreSQL.

Each directory in tests/fixtures/projects/ (overlaid on `_base`) is a tiny Alembic project
whose migrations and models differ in exactly one way, or not at all for `clean_*`.
EXPECTED lists, per scenario, the exact (kind, object) of every finding whose severity is
not "info". The fixtures themselves are verified independently of driftbot with
`python tests/fixtures/projects/verify_fixtures.py`, which diffs `pg_dump --schema-only`
of the two databases.

One scenario necessarily yields two findings: in sequence_backed the standalone sequence
is an object of its own (sequence_missing) and the column's DEFAULT nextval(...) is
missing from the migrations too (column_default_added). identity_vs_serial, by contrast,
is one finding: a serial column's DEFAULT nextval() of its owned sequence is its
identity, so serial vs identity is column_identity_changed only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.report.model import Report
from driftbot.settings import Settings


@pytest.fixture
def url_settings(url_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """These tests are about detection: the suggested migration has its own tests (test_suggestion.py)."""

    def settings(project: Path, **changes: object) -> Settings:
        return url_settings(project, **{"suggest": False, **changes})

    return settings


CheckFixture = Callable[..., Report]

EXPECTED: dict[str, set[tuple[str, str]]] = {
    # tables and columns
    "table_missing": {("table_missing", "public.tags")},
    "table_extra": {("table_extra", "public.audit_log")},
    "column_missing": {("column_missing", "public.users.display_name")},
    "column_extra": {("column_extra", "public.users.legacy_code")},
    "non_default_schema": {("column_missing", "billing.invoices.memo")},
    # column types
    "type_varchar_length": {("column_type_changed", "public.users.name")},
    "type_numeric_precision": {("column_type_changed", "public.products.price")},
    "type_array": {("column_type_changed", "public.posts.labels")},
    "type_timestamp_tz": {("column_type_changed", "public.events.happened_at")},
    "type_varchar_to_text": {("column_type_changed", "public.articles.body")},
    "type_int_to_bigint": {("column_type_changed", "public.counters.hits")},
    # other column aspects
    "nullable_changed": {("column_nullable_changed", "public.users.email")},
    "default_added": {("column_default_added", "public.accounts.balance")},
    "default_removed": {("column_default_removed", "public.accounts.status")},
    "default_changed": {("column_default_changed", "public.accounts.credit_limit")},
    "identity_changed": {("column_identity_changed", "public.invoices.id")},
    "identity_vs_serial": {("column_identity_changed", "public.orders.id")},
    "sequence_backed": {
        ("sequence_missing", "public.invoice_number_seq"),
        ("column_default_added", "public.invoices.number"),
    },
    "computed_changed": {("column_generated_changed", "public.order_lines.total")},
    "table_comment_changed": {("table_comment_changed", "public.users")},
    "column_comment_changed": {("column_comment_changed", "public.users.email")},
    # indexes
    "index_missing": {("index_missing", "public.users.ix_users_email")},
    "index_extra": {("index_extra", "public.users.ix_users_name")},
    "index_columns_changed": {("index_changed", "public.orders.ix_orders_customer")},
    "index_unique_changed": {("index_changed", "public.users.ix_users_email")},
    "index_partial_predicate": {("index_changed", "public.tasks.ix_tasks_open")},
    "index_expression": {("index_changed", "public.users.ix_users_email_ci")},
    "index_method": {("index_changed", "public.documents.ix_documents_payload")},
    # constraints
    "unique_constraint_missing": {("unique_missing", "public.users.uq_users_email")},
    "fk_target_changed": {("foreign_key_changed", "public.children.fk_children_parent_id")},
    "fk_columns_changed": {("foreign_key_changed", "public.posts.fk_posts_user")},
    "fk_ondelete_changed": {("foreign_key_changed", "public.books.fk_books_author_id")},
    "fk_onupdate_changed": {("foreign_key_changed", "public.books.fk_books_author_id")},
    "fk_deferrable_changed": {("foreign_key_changed", "public.books.fk_books_author_id")},
    "check_added": {("check_missing", "public.products.ck_products_price_nonneg")},
    "check_removed": {("check_extra", "public.products.ck_products_quantity_nonneg")},
    "check_changed": {("check_changed", "public.products.ck_products_price_valid")},
    "primary_key_changed": {("primary_key_changed", "public.memberships.pk_memberships")},
    # enums
    "enum_value_added": {("enum_values_added", "public.ticket_status")},
    "enum_value_removed": {("enum_values_removed", "public.ticket_status")},
    "enum_values_reordered": {("enum_values_reordered", "public.ticket_priority")},
    # no drift
    "clean_everything": set(),
    "clean_equivalent_expressions": set(),
}

CLEAN = sorted(s for s, expected in EXPECTED.items() if not expected)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario(check_fixture: CheckFixture, scenario: str) -> None:
    report = check_fixture(scenario)
    got = {(f.kind, f.object) for f in report.findings if f.severity != "info"}
    assert got == EXPECTED[scenario]
    for f in report.findings:  # every finding shows both sides where both exist
        if f.kind.endswith("_changed"):
            assert f.migrations and f.models and f.migrations != f.models


@pytest.mark.parametrize("scenario", CLEAN)
def test_clean_scenarios_exit_zero(check_fixture: CheckFixture, scenario: str) -> None:
    assert check_fixture(scenario).exit_code == 0


def test_drift_exits_one(check_fixture: CheckFixture) -> None:
    assert check_fixture("column_missing").exit_code == 1


def test_equivalent_expressions_are_info_only(check_fixture: CheckFixture) -> None:
    report = check_fixture("clean_equivalent_expressions")
    assert all(f.severity == "info" for f in report.findings), [
        (f.kind, f.object, f.severity, f.migrations, f.models) for f in report.findings
    ]
