"""The project's compiled modules: kept in driftbot's cache between runs, never beside its sources.

Python would write `__pycache__` into the project's tree (its versions directory, its models'
package) and compile every revision file again on each run where it may not (CI images set
PYTHONDONTWRITEBYTECODE): driftbot points `sys.pycache_prefix` at its cache instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.report.model import Report
from driftbot.runs.check import run_check
from driftbot.settings import Settings


@pytest.fixture
def bytecode_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process that may write bytecode (the models' child too), with a cache of its own."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bytecode"


def compiled(bytecode: Path, source: Path) -> list[Path]:
    """The .pyc files under the prefix that mirror `source`'s directory."""
    mirror = bytecode / source.parent.resolve().relative_to("/")
    return sorted(mirror.glob(f"{source.stem}.*.pyc"))


def test_the_projects_modules_compile_into_the_cache_and_nothing_into_the_project(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings], bytecode_allowed: Path
) -> None:
    project = make_project("column_missing")
    revisions = sorted((project / "migrations" / "versions").glob("*.py"))
    assert revisions

    report: Report = run_check(url_settings(project))

    assert report.error is None, report.error
    assert [f.kind for f in report.findings if f.is_drift], "the fixture's drift was not found"
    assert list(project.rglob("__pycache__")) == []
    for source in [*revisions, project / "models.py"]:
        assert compiled(bytecode_allowed, source), f"{source} was not compiled into {bytecode_allowed}"
    assert sys.pycache_prefix is None  # restored once the run is over


def test_no_cache_compiles_into_neither(
    make_project: Callable[[str], Path], url_settings: Callable[..., Settings], bytecode_allowed: Path
) -> None:
    project = make_project("column_missing")

    report = run_check(url_settings(project, cache=False))

    assert report.error is None, report.error
    assert list(project.rglob("__pycache__")) == []
    assert not bytecode_allowed.exists()
    assert sys.dont_write_bytecode is False  # restored
