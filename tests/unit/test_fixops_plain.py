"""driftbot's own ops (fixops.py) on plain catalogs: the statements, their exact inverse, the hazards.

Findings come from the diff of two hand-made catalogs (M: migrations, O: models), as in a run.
"""

from __future__ import annotations

from catalogs import catalog, check, col, enum, findings, index, sequence, statements, table

from driftbot.compare.catalog import Catalog
from driftbot.suggest.fixops import Context, FixOp, change_hazards, fix_ops


def ops(m: Catalog, o: Catalog) -> list[FixOp]:
    found = findings(m, o)
    return fix_ops(found, Context(m, o, tuple(f for f in found if f.is_drift)))


def up_down(m: Catalog, o: Catalog) -> tuple[list[str], list[str]]:
    [op] = ops(m, o)
    return statements(op.upgrade), statements(op.downgrade)


def users(*columns: object, **kw: object) -> Catalog:
    return catalog(table("users", col("id", nullable=False), *columns, **kw))  # type: ignore[arg-type]


def test_a_default_is_set_to_the_models_and_back_to_the_migrations() -> None:
    up, down = up_down(users(col("n", default="0")), users(col("n", default="1")))
    assert up == ["ALTER TABLE public.users ALTER COLUMN n SET DEFAULT 1"]
    assert down == ["ALTER TABLE public.users ALTER COLUMN n SET DEFAULT 0"]


def test_a_default_the_models_do_not_have_is_dropped_and_restored() -> None:
    up, down = up_down(users(col("n", default="now()")), users(col("n")))
    assert up == ["ALTER TABLE public.users ALTER COLUMN n DROP DEFAULT"]
    assert down == ["ALTER TABLE public.users ALTER COLUMN n SET DEFAULT now()"]


def test_nullability_follows_the_models() -> None:
    up, down = up_down(users(col("n")), users(col("n", nullable=False)))
    assert (up, down) == (
        ["ALTER TABLE public.users ALTER COLUMN n SET NOT NULL"],
        ["ALTER TABLE public.users ALTER COLUMN n DROP NOT NULL"],
    )


def test_a_narrowing_type_change_is_destructive_and_a_widening_one_is_not() -> None:
    [narrow] = ops(users(col("n", "bigint")), users(col("n", "integer")))
    assert statements(narrow.upgrade) == ["ALTER TABLE public.users ALTER COLUMN n TYPE integer USING n::integer"]
    assert statements(narrow.downgrade) == ["ALTER TABLE public.users ALTER COLUMN n TYPE bigint USING n::bigint"]
    assert [h.kind for h in narrow.hazards] == ["destructive"]
    [wide] = ops(users(col("n", "integer")), users(col("n", "bigint")))
    assert wide.hazards == ()


def test_names_are_quoted_by_sqlnames() -> None:
    m = catalog(table("Order Items", col('we"ird', default="0"), schema="Sales"))
    o = catalog(table("Order Items", col('we"ird', default="1"), schema="Sales"))
    up, _ = up_down(m, o)
    assert up == ['ALTER TABLE "Sales"."Order Items" ALTER COLUMN "we""ird" SET DEFAULT 1']


def test_a_comment_is_a_quoted_literal_both_ways() -> None:
    up, down = up_down(users(col("n")), users(col("n", comment="it's the count")))
    assert up == ["COMMENT ON COLUMN public.users.n IS 'it''s the count'"]
    assert down == ["COMMENT ON COLUMN public.users.n IS NULL"]


def test_what_autogenerate_covers_alone_and_notes_get_no_op() -> None:
    """A missing column is autogenerate's; an equivalent spelling (info) is no drift."""
    assert ops(users(), users(col("n"))) == []
    same = ops(
        users(col("t", "timestamp with time zone", default="now()")),
        users(col("t", "timestamp with time zone", default="CURRENT_TIMESTAMP")),
    )
    assert same == []


def test_a_renamed_constraint_is_renamed_not_dropped() -> None:
    up, down = up_down(users(constraints=[check("ck_old", "id > 0")]), users(constraints=[check("ck_new", "id > 0")]))
    assert up == ["ALTER TABLE public.users RENAME CONSTRAINT ck_old TO ck_new"]
    assert down == ["ALTER TABLE public.users RENAME CONSTRAINT ck_new TO ck_old"]


def test_a_changed_check_is_dropped_and_added_with_each_sides_definition() -> None:
    up, down = up_down(users(constraints=[check("ck", "id > 0")]), users(constraints=[check("ck", "id > 10")]))
    assert up == [
        "ALTER TABLE public.users DROP CONSTRAINT ck",
        "ALTER TABLE public.users ADD CONSTRAINT ck CHECK (id > 10)",
    ]
    assert down == [
        "ALTER TABLE public.users DROP CONSTRAINT ck",
        "ALTER TABLE public.users ADD CONSTRAINT ck CHECK (id > 0)",
    ]


def test_a_renamed_index_is_renamed_in_its_schema() -> None:
    up, down = up_down(users(indexes=[index("ix_old", "users", "id")]), users(indexes=[index("ix_new", "users", "id")]))
    assert up == ["ALTER INDEX public.ix_old RENAME TO ix_new"]
    assert down == ["ALTER INDEX public.ix_new RENAME TO ix_old"]


def test_a_missing_index_is_created_as_the_models_render_it() -> None:
    ix = index("ix_users_id", "users", "id", where="(id > 0)")
    up, down = up_down(users(), users(indexes=[ix]))
    assert (up, down) == ([ix.definition], ["DROP INDEX public.ix_users_id"])


def _status(*labels: str) -> Catalog:
    return catalog(table("tickets", col("status", "status")), enum("status", *labels))


def test_enum_values_added_are_added_in_place_before_their_neighbour() -> None:
    [op] = ops(_status("open", "closed"), _status("open", "pending", "closed"))
    assert op.phase == "pre" and op.upgrade[0] == "with op.get_context().autocommit_block():"
    assert statements(op.upgrade) == ["ALTER TYPE public.status ADD VALUE IF NOT EXISTS 'pending' BEFORE 'closed'"]
    assert "CREATE TYPE public.status AS ENUM ('open', 'closed')" in statements(op.downgrade)  # a swap back


def test_enum_values_removed_swap_the_type_once_and_are_destructive() -> None:
    found = ops(_status("open", "stale", "closed"), _status("closed", "open", "new"))  # removed, added, reordered
    [op] = found  # one op per type, whatever the mix
    up = statements(op.upgrade)
    assert up[0] == "ALTER TYPE public.status RENAME TO status__driftbot_old"
    assert "CREATE TYPE public.status AS ENUM ('closed', 'open', 'new')" in up
    assert "ALTER TABLE public.tickets ALTER COLUMN status TYPE public.status USING status::text::public.status" in up
    assert up[-1] == "DROP TYPE public.status__driftbot_old"
    assert {h.kind for h in op.hazards} == {"rewrite_lock", "destructive"}


def test_an_enum_for_a_new_table_is_created_by_driftbot_before_the_table() -> None:
    # the suggestion's create_table gets create_type=False, so the type is driftbot's op (pre) and is
    # dropped after the table on the way down
    m = catalog()
    o = catalog(table("tickets", col("status", "status")), enum("status", "open"))
    [new] = ops(m, o)
    assert new.phase == "pre" and statements(new.upgrade) == ["CREATE TYPE public.status AS ENUM ('open')"]
    assert statements(new.downgrade) == ["DROP TYPE public.status"]


def test_a_sequence_is_created_first_and_dropped_last() -> None:
    [new] = ops(catalog(), catalog(sequence("counter")))
    assert new.phase == "pre" and statements(new.upgrade) == [
        "CREATE SEQUENCE public.counter AS bigint START WITH 1 INCREMENT BY 1"
    ]
    [gone] = ops(catalog(sequence("counter")), catalog())
    assert gone.phase == "last" and statements(gone.upgrade) == ["DROP SEQUENCE public.counter"]


def test_a_serial_whose_sequence_was_renamed_renames_the_sequence() -> None:
    def serial(seq: str) -> Catalog:
        return users(col("n", default=f"nextval('{seq}'::regclass)", sequence=("public", seq)))

    up, down = up_down(serial("old_n_seq"), serial("users_n_seq"))
    assert up == ["ALTER SEQUENCE public.old_n_seq RENAME TO users_n_seq"]
    assert down == ["ALTER SEQUENCE public.users_n_seq RENAME TO old_n_seq"]


def test_dropping_a_table_or_column_warns_that_the_models_may_be_behind() -> None:
    hazards = change_hazards(findings(users(col("legacy")), users()))
    assert [(h.kind, h.object) for h in hazards] == [
        ("destructive", "public.users.legacy"),
        ("models_behind", "public.users.legacy"),
    ]
    assert change_hazards(findings(users(), users(col("n")))) == []  # adding loses nothing
