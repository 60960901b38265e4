"""`driftbot detect` of several live databases, or of the tenant schemas of each (`--schemas`).

The story: connect to each live database once, one after another, to learn which answer; build
the migrations at the heads (M) and the models (O) once, in scratch, as for one database; then,
one database at a time (one read-only connection at a time), read it and classify it exactly as
`detect` does for one (detect.compare_live). Each database gets its own Report; the enclosing
Report holds the shared stages (project, scratch server, migrations) and the worst outcome, so
the exit code is the worst of all: a dead database among live ones is exit 4, and the others are
still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace

from driftbot.compare.findings import Finding
from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT
from driftbot.report.model import LiveDatabase, Report, Status
from driftbot.runs.detect import compare_live, finish_live_run
from driftbot.runs.live import LiveSnapshot, LiveTarget, probe, read_live
from driftbot.runs.record import RunRecord
from driftbot.runs.scratch import Scratch, absolute_paths, build_scratch, open_project, project_import_scope
from driftbot.runs.tenants import read_tenants, without_schema_itself
from driftbot.safety import containment
from driftbot.safety.containment import hidden_from_project
from driftbot.safety.masking import register_url
from driftbot.settings import Settings


def run_detect_many(settings: Settings, targets: Sequence[LiveTarget], schemas: str | None = None) -> Report:
    """Every target (each tenant schema of it, with `schemas`), against one build of M and O."""
    run = RunRecord()
    databases: list[LiveDatabase] = []
    redirects: list[containment.Redirect] = []
    error = run.execute(lambda: _detect_many(absolute_paths(settings), targets, schemas, run, databases, redirects))
    return combined(replace(run.report(error), redirects=tuple(redirects)), databases)


def combined(report: Report, databases: Sequence[LiveDatabase]) -> Report:
    """The enclosing report: the worst exit code of the databases (and of the shared stages)."""
    worst = max([d.report.exit_code for d in databases] + ([report.exit_code] if report.error else []), default=0)
    status: Status = "clean" if worst == EXIT_CLEAN else "drift" if worst == EXIT_DRIFT else "error"
    return replace(report, status=status, exit_code=worst, databases=tuple(databases))


def _detect_many(
    settings: Settings,
    targets: Sequence[LiveTarget],
    pattern: str | None,
    run: RunRecord,
    databases: list[LiveDatabase],
    redirects: list[containment.Redirect],
) -> None:
    for target in targets:
        register_url(target.url.value)
    with ExitStack() as stack:
        for target in targets:
            stack.enter_context(hidden_from_project(target.url.value))
        stack.enter_context(project_import_scope(settings.cache))
        probes = {i: _probed(target, run) for i, target in enumerate(targets)}
        unreachable = {i: report for i, report in probes.items() if report is not None}
        s = None
        if len(unreachable) < len(targets):  # scratch work only for a database that answers
            s = build_scratch(settings, open_project(settings, run, stack), run, stack)
            redirects += containment.redirects()
        for i, target in enumerate(targets):
            if i in unreachable:
                databases.append(LiveDatabase(target.display, None, unreachable[i]))
            elif s is not None:
                databases += _compared(settings, target, pattern, s, run)


def _sub_run(run: RunRecord) -> RunRecord:
    """A database's own record: the shared stages' results, its own timings and findings."""
    return RunRecord(project=run.project, server=run.server, migrations=run.migrations, cache=run.cache)


def _probed(target: LiveTarget, run: RunRecord) -> Report | None:
    """None if the database answers; else its report (exit 4, the masked URL in the message)."""
    sub = _sub_run(run)

    def connect() -> None:
        with sub.stage("live"):
            probe(target)

    report = finish_live_run(sub, connect)
    return report if report.error is not None else None


def _compared(
    settings: Settings, target: LiveTarget, pattern: str | None, s: Scratch, run: RunRecord
) -> list[LiveDatabase]:
    version_table = (s.options.version_table_schema, s.options.version_table)
    if pattern is None:
        return [
            LiveDatabase(
                target.display, None, _one(settings, target, None, lambda: read_live(target, version_table), s, run)
            )
        ]
    tenants: list[tuple[str, LiveSnapshot]] = []
    sub = _sub_run(run)

    def read() -> None:
        with sub.stage("live"):
            shared = frozenset(key[0] for c in (s.heads, s.models) for key in (*c.tables, *c.enums, *c.sequences))
            tenants.extend(read_tenants(target, pattern, version_table, s.default_schema, shared))

    failed = finish_live_run(sub, read)
    if failed.error is not None:
        return [LiveDatabase(target.display, None, failed)]
    return [
        LiveDatabase(target.display, tenant, _one(settings, target, tenant, _given(snapshot), s, run))
        for tenant, snapshot in tenants
    ]


def _given(snapshot: LiveSnapshot) -> Callable[[], LiveSnapshot]:
    return lambda: snapshot


def _one(
    settings: Settings,
    target: LiveTarget,
    tenant: str | None,
    snapshot: Callable[[], LiveSnapshot],
    s: Scratch,
    run: RunRecord,
) -> Report:
    """One database (or tenant): read, classified against M and O; its scratch R dropped after it."""
    sub = _sub_run(run)

    def body() -> None:
        with ExitStack() as stack:
            with sub.stage("live"):
                taken = snapshot()
            on = s if tenant is None else replace(s, heads=without_schema_itself(s.heads, s.default_schema))
            compare_live(settings, target, taken, on, sub, stack)
            if sub.live is not None and tenant is not None:
                sub.live = replace(sub.live, schema=tenant)
                sub.findings[:] = [in_tenant(f, s.default_schema, tenant) for f in sub.findings]

    return finish_live_run(sub, body)


def in_tenant(f: Finding, default_schema: str, tenant: str) -> Finding:
    """A tenant's finding names the tenant's schema, where the DBA finds the object (tenants.py
    compared it as if it were in the migrations' default schema)."""
    if f.schema != default_schema or not f.object.startswith(f"{default_schema}."):
        return f
    return replace(f, schema=tenant, object=f"{tenant}.{f.object.removeprefix(default_schema + '.')}")
