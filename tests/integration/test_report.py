"""The JSON contract and the renderings of real reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from driftbot.report.model import Report
from driftbot.report.render import render

SCHEMA = json.loads((Path(__file__).parents[2] / "driftbot" / "report" / "schema" / "report.schema.json").read_text())


@pytest.mark.parametrize("scenario", ["column_missing", "clean_everything"])
def test_json_report_validates_against_the_schema(check_fixture: Callable[..., Report], scenario: str) -> None:
    report = check_fixture(scenario)
    data = json.loads(render(report, "json"))
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == 1
    assert data["status"] == ("drift" if scenario == "column_missing" else "clean")
    assert data["postgres"]["version"].startswith(("14", "15", "16", "17", "18"))
    assert data["migrations"]["applied"] and data["migrations"]["failure"] is None
    assert set(data["timings"]) >= {"project", "postgres", "migrate", "catalog", "models", "diff", "total"}


def test_finding_json_has_the_contract_fields(check_fixture: Callable[..., Report]) -> None:
    data = json.loads(render(check_fixture("column_missing"), "json"))
    [finding] = data["findings"]
    assert finding["kind"] == "column_missing"
    assert finding["object"] == "public.users.display_name"
    assert finding["migrations"] is None and finding["models"] == "character varying(100)"
    assert finding["severity"] == "high"
    assert finding["source"]["file"].endswith("models.py") and finding["source"]["symbol"] == "User.display_name"


def test_text_report_shows_both_sides_grouped_by_table(check_fixture: Callable[..., Report]) -> None:
    text = render(check_fixture("type_varchar_length"), "text")
    assert "public.users\n" in text
    assert "migrations: character varying(100)" in text
    assert "models:     character varying(200)" in text
    assert "DRIFT: 1 drift finding in" in text


def test_markdown_report_is_a_table_with_code_spans(check_fixture: Callable[..., Report]) -> None:
    md = render(check_fixture("type_varchar_length"), "markdown")
    assert "| `public.users.name` | column\\_type\\_changed |" in md
    assert "`character varying(100)`" in md and "`character varying(200)`" in md
