"""`driftbot check`, the story of a run: project → PostgreSQL → migrate → build models → compare.

Each stage hands a plain value to the next. A failing stage ends the run with an error in
the Report, which still carries everything the stages before it produced.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from driftbot.compare.catalog import Catalog, read_catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.compare.ignore import apply_ignore_rules
from driftbot.compare.settle import settle_at
from driftbot.config import configure
from driftbot.errors import ConfigError
from driftbot.postgres.base import DRIVER, display_url
from driftbot.project.hooks import apply_project_hooks
from driftbot.project.locate import Project, describe_scripts
from driftbot.project.migrate import EnvOptions, raise_for_failure, upgrade
from driftbot.project.sources import locate_sources, with_source
from driftbot.report.model import Report, Review, SyncResult
from driftbot.runs.record import RunRecord
from driftbot.runs.review import hazard_findings, read_since_files, review, select_revisions
from driftbot.runs.scratch import (
    Scratch,
    absolute_paths,
    build_scratch,
    open_project,
    project_import_scope,
    version_table,
)
from driftbot.safety.containment import engine_for
from driftbot.settings import Settings
from driftbot.suggest.generate import Suggestion, Workspace, suggest

log = logging.getLogger(__name__)


def run_check(settings: Settings) -> Report:
    run = RunRecord()
    reviewed: list[Review] = []
    report = run.report(run.execute(lambda: _check(settings, run, reviewed)))
    return replace(report, review=reviewed[-1]) if reviewed else report


def _check(settings: Settings, run: RunRecord, reviewed: list[Review] | None = None) -> None:
    settings = _resolved(settings)
    changed = read_since_files(settings) if settings.since else None
    with project_import_scope(settings.cache), ExitStack() as stack:
        opened = open_project(settings, run, stack)
        selected = (
            select_revisions(opened.project, settings.since, changed) if settings.since else None
        )  # a bad --since fails now
        s = build_scratch(settings, opened, run, stack)
        with run.stage("diff"):
            findings = compare(settings, s)
            run.findings += located(findings, s)
        run.suggestion = _suggestion(settings, s, findings, run)
        if settings.write and run.suggestion is not None:
            run.suggestion = write_suggestion(run.suggestion)
        if selected is not None:
            result, failing = _review(settings, s, selected, run)
            if reviewed is not None:
                reviewed.append(result)
            run.findings += failing
        if settings.target_url is not None:
            with run.stage("sync"):
                run.sync = sync_target(
                    settings, s.project, s.config, s.models, s.options, s.metadatas, s.default_schema
                )


def _resolved(settings: Settings) -> Settings:
    """The run's settings: [tool.driftbot] under what the caller set, paths absolute, --sample-data found."""
    settings = absolute_paths(configure(settings))
    if settings.sample_data is not None:
        if not settings.sample_data.is_file():
            raise ConfigError(f"--sample-data {settings.sample_data}: file not found")
        settings = settings.replace(sample_data=settings.sample_data.resolve())
    return settings


def compare(settings: Settings, s: Scratch) -> list[Finding]:
    """M against O, settled on the server, through the project's hooks and driftbot's ignore rules."""
    found = settle_at(s.m_url)(diff_catalogs(s.heads, s.models), s.heads, s.models)  # the column types are M's
    return apply_ignore_rules(
        apply_project_hooks(found + list(s.rejected), s.options, s.metadatas, s.default_schema), settings.ignore
    )


def located(findings: list[Finding], s: Scratch) -> list[Finding]:
    """Each finding about a model's table with the file and line that declares it."""
    tables = {(f.schema, f.table) for f in findings if f.schema and f.table and f.models is not None}
    sources = locate_sources(s.metadatas, s.default_schema, tables)
    return [with_source(f, sources) for f in findings]


def _suggestion(settings: Settings, s: Scratch, findings: list[Finding], run: RunRecord) -> Suggestion | None:
    """The verified fix, when there is drift to fix or more than one head to merge."""
    if not settings.suggest or not (any(f.is_drift for f in findings) or len(s.project.heads) > 1):
        return None
    s.wait()  # its verification copies M: the head's archive first (timed as "snapshot", not "suggest")
    with run.stage("suggest"):
        return suggest(Workspace.from_scratch(s, settings, findings))


def _review(
    settings: Settings, s: Scratch, selected: tuple[tuple[str, ...], str], run: RunRecord
) -> tuple[Review, list[Finding]]:
    """The PR's own revisions reviewed, and the findings that fail the check (hazards too with --fail-on hazard)."""
    with run.stage("review"):
        result, failing = review(settings, s, selected)
    if settings.fail_on == "hazard":
        failing += hazard_findings(result, s.project.root)
    return result, apply_ignore_rules(failing, settings.ignore)


def sync_target(
    settings: Settings,
    project: Project,
    cfg: Config,
    models: Catalog,
    options: EnvOptions,
    metadatas: tuple[MetaData, ...],
    default_schema: str,
) -> SyncResult:
    """Bring a development database to the heads (the new suggestion included) and re-compare."""
    assert settings.target_url is not None
    target = make_url(settings.target_url.value).set(drivername=DRIVER)
    project_now, script_now = describe_scripts(cfg, project.config_file)
    migrations, _ = upgrade(project_now, cfg, script_now, target, settings.url_env_vars, step="sync")
    raise_for_failure(migrations, project_now)
    with engine_for(target) as engine:
        with engine.connect() as conn:
            live = read_catalog(conn, exclude=version_table(options, default_schema))
    found = settle_at(target)(diff_catalogs(live, models), live, models)  # read-only, rolled back
    remaining = apply_ignore_rules(
        apply_project_hooks([f for f in found if f.is_drift], options, metadatas, default_schema), settings.ignore
    )
    return SyncResult(display_url(target), migrations.applied, tuple(remaining))


def write_suggestion(suggestion: Suggestion) -> Suggestion:
    """Write a verified suggestion into the project's versions directory; never overwrite."""
    target = Path(suggestion.path)
    if not suggestion.verified or not suggestion.content:
        return suggestion
    if target.exists():
        raise ConfigError(f"{target} already exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.driftbot-tmp")
    tmp.write_text(suggestion.content, encoding="utf-8")
    tmp.replace(target)
    return replace(suggestion, written=True)
