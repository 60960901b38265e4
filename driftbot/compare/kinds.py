"""The one table of finding kinds: what each kind is about and who fixes it.

Config validation (config.FINDING_KINDS), detect's classification (detect.aspect) and the
suggestion (fixops.FIXERS; which kinds autogenerate never covers) all read this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CONSTRAINT_KINDS = {"p": "primary_key", "u": "unique", "f": "foreign_key", "c": "check", "x": "exclusion"}
CONSTRAINT_OBJECT_TYPES = {
    "p": "primary_key",
    "u": "unique_constraint",
    "f": "foreign_key_constraint",
    "c": "check_constraint",
    "x": "exclusion_constraint",
}
# what only the live database and the migrations have an opinion on (objects.py): models can't declare them,
# but alembic_utils and declarative-extensions can (project/declared.py)
OBJECT_TYPES = (
    "schema",
    "extension",
    "collation",
    "domain",
    "composite_type",
    "range_type",
    "function",
    "procedure",
    "aggregate",
    "view",
    "materialized_view",
    "trigger",
    "row_security",
    "policy",
    "partition_key",
    "partition",
    "inheritance",
    "rule",
    "table_options",
    "grant",
    "comment",
)
ANY_OBJECT = "*"  # model_rejected: the type of whatever PostgreSQL refused


@dataclass(frozen=True)
class Kind:
    name: str
    object_type: str  # Finding.object_type, Alembic's vocabulary for include_object
    aspect: str  # what it is about whatever the direction: detect pairs findings by it
    autogenerate: bool  # Alembic autogenerate emits an op for it
    fixer: str | None  # driftbot's own op in fixops.FIXERS (by name); None: autogenerate's alone


def _kinds() -> list[Kind]:
    k: list[Kind] = [
        Kind("table_missing", "table", "table", True, None),
        Kind("table_extra", "table", "table", True, None),
        Kind("table_comment_changed", "table", "table_comment", True, "table_comment"),
        Kind("column_missing", "column", "column", True, None),
        Kind("column_extra", "column", "column", True, None),
        Kind("column_type_changed", "column", "column_type", True, "column_type"),
        Kind("column_nullable_changed", "column", "column_nullable", True, "column_nullable"),
        Kind("column_default_added", "column", "column_default", True, "column_default"),
        Kind("column_default_removed", "column", "column_default", True, "column_default"),
        Kind("column_default_changed", "column", "column_default", True, "column_default"),
        Kind("column_identity_changed", "column", "column_identity", False, "column_identity"),
        Kind("column_generated_changed", "column", "column_generated", False, "column_generated"),
        Kind("column_comment_changed", "column", "column_comment", True, "column_comment"),
        # Alembic compares a column's type, not its collation
        Kind("column_collation_changed", "column", "column_collation", False, "column_collation"),
        *(Kind(f"index_{change}", "index", "index", True, "index") for change in ("missing", "extra", "changed")),
        Kind("index_renamed", "index", "index", False, "index"),
    ]
    for code, base in CONSTRAINT_KINDS.items():
        # autogenerate compares unique and foreign key constraints; checks, PKs and EXCLUDE not
        covered = code in ("u", "f")
        k += [
            Kind(f"{base}_{change}", CONSTRAINT_OBJECT_TYPES[code], base, covered and change != "renamed", "constraint")
            for change in ("missing", "extra", "changed", "renamed")
        ]
    k += [
        Kind("enum_missing", "enum", "enum", True, "enum_type"),
        Kind("enum_extra", "enum", "enum", False, "enum_type"),
        *(
            Kind(f"enum_values_{change}", "enum", "enum", False, "enum_values")
            for change in ("added", "removed", "reordered")
        ),
        Kind("sequence_missing", "sequence", "sequence", True, "sequence"),
        Kind("sequence_extra", "sequence", "sequence", False, "sequence"),
        Kind("sequence_changed", "sequence", "sequence", False, "sequence"),
        *(Kind(f"{t}_{change}", t, t, False, None) for t in OBJECT_TYPES for change in ("missing", "extra", "changed")),
        Kind("model_rejected", ANY_OBJECT, "model_rejected", False, None),
        Kind("multiple_heads", "migrations", "multiple_heads", False, None),
        # `--since` (review.py): the PR's own revisions, not drift between migrations and models
        Kind("downgrade_failed", "migrations", "downgrade", False, None),
        Kind("downgrade_residue", ANY_OBJECT, "downgrade", False, None),
        Kind("migration_hazard", "migrations", "migration_hazard", False, None),
    ]
    return k


KINDS: Mapping[str, Kind] = {k.name: k for k in _kinds()}
# the findings the review makes (review.py): they fail the check, but they are not schema drift
REVIEW_KINDS = frozenset({"downgrade_failed", "downgrade_residue", "migration_hazard"})
NOT_FIXABLE = frozenset({"model_rejected", "multiple_heads"}) | REVIEW_KINDS  # not the schema: the project itself


# found against the models only where declared (project/declared.py): their fixes go toward the migrations (undo.py)
OBJECT_KINDS = frozenset(k.name for k in KINDS.values() if k.object_type in OBJECT_TYPES)


def kind(name: str) -> Kind:
    return KINDS[name]


def never_autogenerated() -> frozenset[str]:
    """What autogenerate never emits (suggest.py falls back to driftbot's ops for these)."""
    return frozenset(k.name for k in KINDS.values() if not k.autogenerate and k.name not in NOT_FIXABLE)
