"""env.py files as real applications write them, and migrations that import the application's models.

Each runs as a user runs `driftbot check`: the drift (users.display_name, in the models only) is
found, nothing else is, and the suggested migration verifies.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.runs.check import run_check
from driftbot.settings import Settings

PROJECTS = Path(__file__).parents[1] / "fixtures" / "projects"


def project_for(scenario: str, dest: Path) -> Path:
    for layer in ("_base", "column_missing", scenario):
        shutil.copytree(PROJECTS / layer, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.mark.parametrize(
    "scenario", ["env_anyio_worker_thread", "env_attributes_connection", "migration_imports_models"]
)
def test_the_drift_and_only_the_drift_with_a_verified_fix(
    scenario: str, url_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    report = run_check(url_settings(project_for(scenario, tmp_path / "project")))

    assert report.error is None, report.error
    assert {(f.kind, f.object) for f in report.drift} == {("column_missing", "public.users.display_name")}
    assert not [f for f in report.findings if f.kind == "model_rejected"]
    assert report.suggestion is not None and report.suggestion.verified, report.suggestion
    assert report.exit_code == 1
