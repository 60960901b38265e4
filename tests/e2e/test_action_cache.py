"""The action's snapshot cache (cache-dir) across runs, through the worker as the container runs it.

Main's runs (push) keep the snapshot of their head in cache-dir, which the workflow keeps with
actions/cache; a pull request's run restores it and runs only its new revisions, and what it
stores itself never joins the cache (its code wrote it). As root, so the worker is another account.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from test_worker_isolation import FIXTURES, ROOT_ONLY, as_worker, open_dir, worker_python

from driftbot.action.check import check_project, snapshot_share
from driftbot.action.settings import Settings, Token
from driftbot.report.model import Report
from driftbot.settings import Secret

__all__ = ["as_worker", "open_dir", "worker_python"]


def action_settings(workspace: Path, event: str, pg_url: str, **inputs: object) -> Settings:
    return Settings(
        github_token=Token(""),
        working_directory=Path("backend"),
        postgres="url",
        database_url=Secret(pg_url),
        suggest=False,
        event_name=event,
        workspace=workspace,
        **inputs,
    )  # type: ignore[arg-type]


def applied(report: Report) -> list[str]:
    assert report.migrations is not None, report.error
    return [a.revision for a in report.migrations.applied]


def checkout(workspace: Path) -> Path:
    for layer in ("_base", "clean_everything"):  # 0001 customers, 0002 orders; models: both
        shutil.copytree(
            FIXTURES / layer, workspace / "backend", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    return workspace / "backend" / "migrations" / "versions" / "0002_create_orders.py"


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
def test_main_keeps_its_snapshot_and_a_pull_request_runs_only_its_new_revision(pg_url: str, open_dir: Path) -> None:
    workspace = open_dir / "workspace"
    pr_revision = checkout(workspace)
    pr_source = pr_revision.read_bytes()
    pr_revision.unlink()  # main has 0001 only
    cache = workspace / ".driftbot-cache"

    first = check_project(action_settings(workspace, "push", pg_url))
    assert first.cache is not None and first.cache.restored is None and first.cache.stored == ("0001",), first.error
    [archive] = cache.glob("*.dump")
    st = archive.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)  # the trusted side's; the worker reads it
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"

    again = check_project(action_settings(workspace, "push", pg_url))
    assert again.cache is not None and again.cache.restored == "0001" and applied(again) == []

    pr_revision.write_bytes(pr_source)  # the pull request adds 0002
    before = sorted(os.listdir(cache))
    pr = check_project(action_settings(workspace, "pull_request", pg_url))
    assert pr.status == "clean", pr.error
    assert pr.cache is not None and pr.cache.restored == "0001" and applied(pr) == ["0002"]
    assert pr.cache.stored == () and sorted(os.listdir(cache)) == before  # a PR's snapshot never joins the cache

    cold = check_project(action_settings(workspace, "pull_request", pg_url, cache_dir=Path("elsewhere")))
    assert cold.cache is not None and cold.cache.restored is None and applied(cold) == ["0001", "0002"]
    assert cold.findings == pr.findings


@ROOT_ONLY
@pytest.mark.usefixtures("as_worker")
def test_cache_save_on_keeps_a_pull_requests_snapshot(pg_url: str, open_dir: Path) -> None:
    workspace = open_dir / "workspace"
    checkout(workspace)
    report = check_project(action_settings(workspace, "pull_request", pg_url, cache_save="on"))
    assert report.cache is not None and report.cache.stored == ("0002",), report.error
    assert len(list((workspace / ".driftbot-cache").glob("*.dump"))) == 1


def test_a_link_in_the_checkout_never_steers_where_the_cache_is_written(tmp_path: Path) -> None:
    workspace, elsewhere = tmp_path / "workspace", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    (workspace / ".driftbot-cache").symlink_to(elsewhere)  # committed by a pull request
    assert snapshot_share(action_settings(workspace, "push", "postgresql://x@localhost/x")) is None
    (workspace / "cache").mkdir()
    (workspace / "cache" / ".gitignore").symlink_to(elsewhere / "planted")
    share = snapshot_share(action_settings(workspace, "push", "postgresql://x@localhost/x", cache_dir=Path("cache")))
    assert share is not None and share.keep and not (elsewhere / "planted").exists()
    assert snapshot_share(action_settings(workspace, "pull_request", "postgresql://x@localhost/x")) is None
    share = snapshot_share(
        action_settings(workspace, "pull_request", "postgresql://x@localhost/x", cache_dir=Path("new/cache"))
    )
    assert share is not None and not share.keep and (workspace / "new" / "cache").is_dir()
