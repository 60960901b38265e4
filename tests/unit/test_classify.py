"""`detect`'s classification on plain catalogs: live (L), migrations at the recorded revision (R),
at the heads (M) and the models (O); each finding says why L differs and carries all three definitions."""

from __future__ import annotations

from catalogs import catalog, col, table

from driftbot.compare.catalog import Catalog
from driftbot.compare.findings import Finding
from driftbot.runs.detect import classify

ID = col("id", nullable=False)
EMAIL = col("email", "text")
NICK = col("nickname", "character varying(50)")

BASE = catalog(table("users", ID, EMAIL))
WITH_NICK = catalog(table("users", ID, EMAIL, NICK))


def summary(found: list[Finding]) -> list[tuple[str | None, str, str]]:
    return [(f.classification, f.kind, f.object) for f in found]


def sides(f: Finding) -> tuple[str | None, str | None, str | None]:
    return f.live, f.migrations, f.models


def test_all_alike_is_nothing() -> None:
    assert classify(BASE, None, BASE, BASE) == []
    assert classify(WITH_NICK, WITH_NICK, WITH_NICK, WITH_NICK) == []


def test_a_column_only_the_live_database_has_was_changed_outside_the_migrations() -> None:
    [f] = classify(WITH_NICK, None, BASE, BASE)
    assert summary([f]) == [("changed_outside_migrations", "column_extra", "public.users.nickname")]
    assert sides(f) == ("character varying(50)", None, None)  # live has it; migrations and models don't


def test_a_column_the_heads_add_but_the_live_database_lacks_is_a_pending_migration() -> None:
    """Live is at R; the heads (and the models) add the column: pending, not changed outside."""
    [f] = classify(BASE, BASE, WITH_NICK, WITH_NICK)
    assert summary([f]) == [("pending_migration", "column_missing", "public.users.nickname")]
    assert sides(f) == (None, "character varying(50)", "character varying(50)")


def test_without_the_recorded_revision_what_the_heads_add_is_outside() -> None:
    """`at_revision` None: the live database claims the heads, so any difference was made by hand."""
    [f] = classify(BASE, None, WITH_NICK, WITH_NICK)
    assert summary([f]) == [("changed_outside_migrations", "column_missing", "public.users.nickname")]
    assert sides(f) == (None, "character varying(50)", "character varying(50)")


def test_the_models_ahead_of_the_migrations() -> None:
    [f] = classify(BASE, None, BASE, WITH_NICK)
    assert summary([f]) == [("models_ahead_of_migrations", "column_missing", "public.users.nickname")]
    assert sides(f) == (None, None, "character varying(50)")


def test_a_pending_change_made_by_hand_is_reported_once_as_outside() -> None:
    """Live is at R but already has what the heads add: reported once (outside), saying what R builds."""
    found = classify(WITH_NICK, BASE, WITH_NICK, WITH_NICK)
    assert summary(found) == [("changed_outside_migrations", "column_extra", "public.users.nickname")]
    [f] = found
    assert sides(f) == ("character varying(50)", "character varying(50)", "character varying(50)")
    assert "at the recorded revision the migrations build: (absent)" in f.detail


def _users(email_type: str) -> Catalog:
    return catalog(table("users", ID, col("email", email_type)))


def test_three_different_definitions_are_all_carried() -> None:
    live, heads, models = _users("character varying(320)"), _users("text"), _users("character varying(255)")
    found = classify(live, None, heads, models)
    assert summary(found) == [
        ("changed_outside_migrations", "column_type_changed", "public.users.email"),
        ("models_ahead_of_migrations", "column_type_changed", "public.users.email"),
    ]
    outside, ahead = found
    assert sides(outside) == ("character varying(320)", "text", "character varying(255)")
    assert sides(ahead) == ("character varying(320)", "text", "character varying(255)")


def test_each_of_the_three_at_once() -> None:
    live = catalog(table("users", ID, EMAIL, col("legacy")))  # a hand-made column, behind the heads
    recorded = BASE
    heads = WITH_NICK  # the pending revision adds nickname
    models = catalog(table("users", ID, EMAIL, NICK, col("score")))  # and the models add score
    assert sorted(summary(classify(live, recorded, heads, models))) == [
        ("changed_outside_migrations", "column_extra", "public.users.legacy"),
        ("models_ahead_of_migrations", "column_missing", "public.users.score"),
        ("pending_migration", "column_missing", "public.users.nickname"),
    ]
