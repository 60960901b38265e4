"""A report survives JSON: what a worker or an artifact carries is the Report the engine made."""

from __future__ import annotations

import json

import pytest

from driftbot.compare.findings import Finding, SourceLocation
from driftbot.project.migrate import AppliedRevision, MigrationFailure, MigrationRun
from driftbot.report.model import PostgresInfo, ProjectInfo, Report, from_dict, to_dict, to_json
from driftbot.suggest.fixops import Hazard
from driftbot.suggest.generate import Check, Suggestion


def sample() -> Report:
    finding = Finding(
        "column_missing",
        "public.users.name",
        "high",
        None,
        "text",
        object_type="column",
        schema="public",
        table="users",
        name="name",
        source=SourceLocation("models.py", 12, "User.name"),
    )
    suggestion = Suggestion(
        "abc123",
        ("0001",),
        "sync",
        "abc123_sync.py",
        "/p/versions/abc123_sync.py",
        "content",
        True,
        (Check("upgrade", True, "ok"),),
        (),
        (Hazard("destructive", "public.t", "drops"),),
    )
    return Report(
        "drift",
        1,
        ProjectInfo("/p", "/p/alembic.ini", "/p/migrations", ("0001",), ("/p/0001.py",)),
        PostgresInfo("local", "15.18"),
        MigrationRun((AppliedRevision("0001", "/p/0001.py", 0.01),), MigrationFailure("0002", "f", 3, "boom"), 0.02),
        (finding,),
        {"total": 1.0},
        None,
        suggestion,
    )


def test_json_roundtrip_gives_the_same_report() -> None:
    report = sample()
    assert from_dict(json.loads(to_json(report))) == report


def test_unknown_fields_are_refused() -> None:
    data = to_dict(sample())
    data["findings"][0]["injected"] = "x"
    with pytest.raises(Exception, match="injected"):
        from_dict(data)
