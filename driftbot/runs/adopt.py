"""`detect --fix-to live`: a revision so the migrations build what the live database has.

The story: the migrations' database at the heads (M, scratch) is dumped and restored as a
NOSUPERUSER role into a base copy, so everything after runs without privileges. On a copy of
the base, suggest/adopt.py converges toward the live catalog (the upgrade) and back toward the
base (the downgrade). The revision is rendered through the project's script.py.mako and verified
through its env.py on a fresh copy of the base: upgrade, zero difference from the live database
(every kind), downgrade, exactly the base again, upgrade again. Only a verified revision is
written; otherwise the report says why, and nothing is. The live database is only read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL

from driftbot.compare.catalog import Catalog
from driftbot.compare.diff import diff_catalogs
from driftbot.compare.findings import Finding
from driftbot.compare.settle import settle_at
from driftbot.postgres import scratch_database
from driftbot.postgres.base import ScratchRole, connect_admin, scratch_role
from driftbot.project.locate import describe_exception, describe_script
from driftbot.project.migrate import UNDO_PREFIX, upgrade
from driftbot.runs.check import write_suggestion
from driftbot.runs.live import dump_schema, live_target, read_live, restore_schema
from driftbot.runs.scratch import Scratch
from driftbot.safety.containment import own_engine
from driftbot.settings import Settings
from driftbot.suggest import adopt
from driftbot.suggest.generate import (
    CHECKS,
    Check,
    ScratchScripts,
    Suggestion,
    project_versions_dir,
    read,
    release,
    revision_id,
    scratch_config,
)

Scope = Callable[[Catalog], Catalog]
MESSAGE = "adopt the live database's changes made outside the migrations"

# views (and materialized views) over a table, transitively, the ones they read first
_DEPENDENT_VIEWS = """
WITH RECURSIVE dep(table_oid, view_oid, depth) AS (
  SELECT DISTINCT d.refobjid, r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
  WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND r.ev_class <> d.refobjid
  UNION
  SELECT dep.table_oid, r.ev_class, dep.depth + 1 FROM dep JOIN pg_depend d ON d.refobjid = dep.view_oid
  JOIN pg_rewrite r ON r.oid = d.objid
  WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND r.ev_class <> d.refobjid
    AND dep.depth < 20
)
SELECT tn.nspname || '.' || t.relname AS tbl, CASE v.relkind WHEN 'm' THEN 'materialized_view' ELSE 'view' END,
       vn.nspname || '.' || v.relname AS path, max(dep.depth) AS depth
FROM dep JOIN pg_class t ON t.oid = dep.table_oid JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_class v ON v.oid = dep.view_oid JOIN pg_namespace vn ON vn.oid = v.relnamespace
WHERE t.relkind IN ('r', 'p') AND v.relkind IN ('v', 'm')
GROUP BY 1, 2, 3 ORDER BY 1, 4, 3
"""
_UPDATE_PATHS = """
SELECT e.extname, p.source, p.target FROM pg_extension e
CROSS JOIN LATERAL pg_extension_update_paths(e.extname) p WHERE p.path IS NOT NULL
"""


class NoAdoption(Exception):
    """Why no revision: said in the report (LiveInfo.fix_error), nothing written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Copy:
    """A scratch database owned by the role, and how to read it (scoped as the live catalog is)."""

    url: URL  # as the role
    exclude: frozenset[tuple[str, str]]
    scope: Scope

    def catalog(self) -> Catalog:
        return self.scope(read(self.url, self.exclude))

    def drift(self, want: Catalog) -> tuple[Catalog, list[Finding]]:
        have = self.catalog()
        found = settle_at(self.url)(diff_catalogs(have, want, every_kind=True), have, want)
        return have, [f for f in found if f.is_drift]


def live_adopt(
    settings: Settings, s: Scratch, live: Catalog, scope: Scope, stack: ExitStack
) -> tuple[Suggestion | None, str | None]:
    """The verified revision (written into the project), or why there is none."""
    try:
        role = stack.enter_context(scratch_role(s.server))  # entered first: dropped after its databases
        base = _base_copy(s, role, stack)
        suggestion = _adopt(settings, s, live, scope, role, base, stack)
    except NoAdoption as exc:
        return None, exc.reason
    except Exception as exc:  # the project's env.py runs in verification
        return None, f"--fix-to live failed: {describe_exception(exc, (s.project.root,))}"
    if not suggestion.verified:
        failed = next((c for c in suggestion.checks if not c.passed), None)
        why = f"{failed.name}: {failed.detail}" if failed else "not every check ran"
        return None, f"the revision that adopts the live database's changes did not verify ({why}); none was written"
    return write_suggestion(suggestion), None


def _base_copy(s: Scratch, role: ScratchRole, stack: ExitStack) -> URL:
    """M's schema, dumped and restored as `role` (the template of every copy after)."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-adopt-")))
    s.wait()  # release() would end a pg_dump still writing the head's archive
    release(s.server, str(s.m_url.database))
    m = live_target(s.m_url.render_as_string(hide_password=False))
    table = (s.options.version_table_schema, s.options.version_table)
    snapshot = read_live(m, table)
    dump = dump_schema(m, snapshot, s.server.major, workdir)
    base = stack.enter_context(scratch_database(s.server, "adopt", owner=role))
    with connect_admin(base) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role.name)))
    _trusted_extensions(role.url(base), snapshot.catalog.extensions if snapshot.catalog else ())
    restore_schema(dump, snapshot, base, role, m)
    return base


def _trusted_extensions(url: URL, extensions: tuple[tuple[str, str], ...]) -> None:
    """The extensions the role may create itself (trusted ones), created by it, so that the revision's
    DROP or ALTER EXTENSION runs on the copy as it would for the project's own role; restore_schema
    creates the others as the superuser."""
    with connect_admin(url) as conn:
        for name, schema in extensions:
            if schema != "public":
                continue  # its schema is restored after the extensions
            try:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
                        sql.Identifier(name), sql.Identifier(schema)
                    )
                )
            except psycopg.Error:
                continue  # not trusted: the superuser creates it


def _copy_of(base: URL, role: ScratchRole, s: Scratch, label: str, stack: ExitStack) -> URL:
    release(s.server, str(base.database))
    return role.url(stack.enter_context(scratch_database(s.server, label, template=str(base.database), owner=role)))


def _adopt(
    settings: Settings, s: Scratch, live: Catalog, scope: Scope, role: ScratchRole, base: URL, stack: ExitStack
) -> Suggestion:
    before = _Copy(role.url(base), s.exclude, scope).catalog()
    work = _Copy(_copy_of(base, role, s, "adopt_work", stack), s.exclude, scope)
    drift = work.drift(live)[1]
    if not drift:
        raise NoAdoption("what the migrations build already has everything the live database has")
    up = _rounds(work, live, "what the migrations build")
    down = _rounds(work, before, "the live database's schema")
    return _render_and_verify(
        settings, s, role, base, revision_id(s.project, drift), up.lines, down.lines, live, before, scope, drift, stack
    )


def _rounds(copy: _Copy, want: Catalog, start: str) -> adopt.Rounds:
    result = adopt.converge(
        lambda: copy.drift(want), lambda: _facts(copy.url), lambda lines: _apply(copy.url, lines), want
    )
    if result.unsupported:
        raise NoAdoption(
            "driftbot writes no op that adopts these changes; no revision was written (a table that "
            "one side lacks, or an identity, generated, serial or collated column, is autogenerate's "
            "to write, and a partitioning scheme needs the table rebuilt: write that revision by "
            "hand): " + ", ".join(f"{f.object_type} {f.object}" for f in result.unsupported)
        )
    if result.error:
        raise NoAdoption(
            f"on a copy of {start}, PostgreSQL refused the revision's ops, so no revision was written: {result.error}"
        )
    if result.remaining:
        raise NoAdoption(
            f"on a copy of {start}, these still differ after {len(result.lines)} op(s), so no "
            "revision was written: " + ", ".join(f"{f.kind} {f.object}" for f in result.remaining)
        )
    return result


def _facts(url: URL) -> adopt.CopyFacts:
    engine = own_engine(url)
    try:
        with engine.connect() as conn:
            views: dict[str, list[tuple[str, str]]] = {}
            for table, kind, path, _ in conn.execute(text(_DEPENDENT_VIEWS)):
                views.setdefault(table, []).append((kind, path))
            paths = frozenset((str(n), str(a), str(b)) for n, a, b in conn.execute(text(_UPDATE_PATHS)))
    finally:
        engine.dispose()
    return adopt.CopyFacts({t: tuple(v) for t, v in views.items()}, paths)


def _apply(url: URL, lines: adopt.Lines) -> None:
    """One round on the copy, as the role: the revision's own lines, run as Alembic runs them."""
    engine = own_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            with context.begin_transaction():  # what autocommit_block (ALTER TYPE ... ADD VALUE) commits
                namespace = {"op": Operations(context)}
                exec(compile(adopt.runnable(lines), "<driftbot --fix-to live>", "exec"), namespace)
    finally:
        engine.dispose()


def _render_and_verify(
    settings: Settings,
    s: Scratch,
    role: ScratchRole,
    base: URL,
    rev_id: str,
    up: adopt.Lines,
    down: adopt.Lines,
    live: Catalog,
    before: Catalog,
    scope: Scope,
    findings: list[Finding],
    stack: ExitStack,
) -> Suggestion:
    """The revision through the project's template, verified through its env.py on a fresh copy."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-adopt-rev-")))
    cfg = scratch_config(s.project, s.config, tmp)
    directory = ScratchScripts.at(cfg, tmp)
    message = settings.message or MESSAGE
    script = directory.generate_revision(
        rev_id, message, head="heads", version_path=str(tmp), upgrades=adopt.body(up), downgrades=adopt.body(down)
    )
    if script is None:
        raise NoAdoption("the project's script directory rendered no revision")
    path = Path(script.path)
    copy = _Copy(_copy_of(base, role, s, "adopt_verify", stack), s.exclude, scope)
    checks = _verify(settings, s, cfg, directory, copy, rev_id, live, before)
    verified = len(checks) == len(CHECKS) and all(c.passed for c in checks)
    return Suggestion(
        rev_id,
        s.project.heads,
        message,
        path.name,
        str(project_versions_dir(s.project, s.config) / path.name),
        path.read_text(encoding="utf-8"),
        verified,
        tuple(checks),
        () if verified else tuple(findings),
        (),
    )


def _verify(
    settings: Settings,
    s: Scratch,
    cfg: Config,
    directory: ScratchScripts,
    copy: _Copy,
    rev_id: str,
    live: Catalog,
    before: Catalog,
) -> list[Check]:
    """Upgrade, same as live, downgrade, same as before, upgrade again: stop at the first failure."""
    project = describe_script(directory, s.project.config_file)

    def migrate(destination: str, downgrade: bool = False) -> str | None:
        try:
            run, _ = upgrade(
                project, cfg, directory, copy.url, settings.url_env_vars, destination, downgrade, step="verify"
            )
        except Exception as exc:
            return describe_exception(exc, (s.project.root,))
        return run.failure.error if run.failure else None

    checks: list[Check] = []
    error = migrate(rev_id)
    checks.append(Check("upgrade", error is None, error or "applied to a copy of what the migrations build"))
    if error:
        return checks
    left = copy.drift(live)[1]
    checks.append(
        Check(
            "no_drift",
            not left,
            "the same as the live database, every kind of object"
            if not left
            else "still differs: " + ", ".join(f"{f.kind} {f.object}" for f in left),
        )
    )
    error = migrate(UNDO_PREFIX + rev_id, downgrade=True)
    checks.append(Check("downgrade", error is None, error or f"downgraded to {', '.join(s.project.heads)}"))
    if error:
        return checks
    back = copy.drift(before)[1]
    checks.append(
        Check(
            "downgrade_restores",
            not back,
            "what the migrations build, as before"
            if not back
            else "differs from before: " + ", ".join(f"{f.kind} {f.object}" for f in back),
        )
    )
    error = migrate(rev_id)
    checks.append(Check("upgrade_again", error is None, error or "upgraded again"))
    return checks
