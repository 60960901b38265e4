"""Where a model-side object is declared (sources.py): the mapped class and attribute lines, found
for the tables that have findings and attached to the findings the models declare."""

from __future__ import annotations

from pathlib import Path

from catalogs import catalog, col, findings, table
from sqlalchemy import Column, Integer, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from driftbot.compare.findings import Finding, SourceLocation
from driftbot.project.sources import locate_sources, with_source


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "src_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    mail: Mapped[str] = mapped_column("email", Text)  # the attribute is not named as the column
    nickname: Mapped[str | None]


class Ledger(Base):
    __table__ = Table("src_ledger", Base.metadata, Column("id", Integer, primary_key=True), schema="billing")


HERE = str(Path(__file__))
LINES = Path(__file__).read_text().splitlines()


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(LINES, 1) if line.startswith(text))


def test_the_class_and_its_attributes_are_found() -> None:
    found = locate_sources([Base.metadata], "public", {("public", "src_accounts")})
    assert found[("public", "src_accounts")] == SourceLocation(HERE, line_of("class Account("), "Account")
    assert found[("public", "src_accounts", "email")] == SourceLocation(HERE, line_of("    mail:"), "Account.mail")
    assert found[("public", "src_accounts", "nickname")].line == line_of("    nickname:")
    assert not any(key[:2] == ("billing", "src_ledger") for key in found)  # not wanted: not looked up


def test_a_table_in_another_schema_is_found_by_its_schema() -> None:
    found = locate_sources([Base.metadata], "public", {("billing", "src_ledger")})
    assert found[("billing", "src_ledger")] == SourceLocation(HERE, line_of("class Ledger("), "Ledger")
    assert locate_sources([Base.metadata], "public", {("public", "src_ledger")}) == {}


ID = col("id", nullable=False)
MIGRATIONS = catalog(table("src_accounts", ID, col("email", "text"), col("legacy", "text")))
MODEL_CATALOG = catalog(table("src_accounts", ID, col("email", "character varying(320)"), col("nickname", "text")))


def test_findings_the_models_declare_get_their_source() -> None:
    sources = locate_sources([Base.metadata], "public", {("public", "src_accounts")})
    located = {f.object: with_source(f, sources).source for f in findings(MIGRATIONS, MODEL_CATALOG)}
    assert located["public.src_accounts.email"] == SourceLocation(HERE, line_of("    mail:"), "Account.mail")
    assert located["public.src_accounts.nickname"] == SourceLocation(HERE, line_of("    nickname:"), "Account.nickname")
    assert located["public.src_accounts.legacy"] is None  # only the migrations have it: no model line


def test_a_column_without_its_own_line_points_at_the_class() -> None:
    sources = locate_sources([Base.metadata], "public", {("public", "src_accounts")})
    f = Finding(
        "column_comment_changed",
        "public.src_accounts.unmapped",
        "high",
        None,
        "a comment",
        object_type="column",
        schema="public",
        table="src_accounts",
        name="unmapped",
    )
    assert with_source(f, sources).source == SourceLocation(HERE, line_of("class Account("), "Account")
