"""Stage 4: the suggested migration, generated in the project's style and verified.

Generation runs `alembic revision --autogenerate` through the project's own env.py (so its
render hooks, naming conventions and post-write hooks apply), into a temporary directory
added to `version_locations` (the project's tree is never written), with driftbot's own
ops (fixops.py) added for what autogenerate does not emit. Which findings need them is
measured, not guessed: autogenerate's ops are applied to a copy of the migrated database
and whatever drift remains gets a driftbot op.

Verification, on a fresh copy of the migrated database: upgrade; zero drift against the
models; downgrade to the previous head(s); exactly the pre-upgrade catalog; upgrade again.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import alembic
from alembic.autogenerate import RevisionContext, renderers
from alembic.autogenerate import render as alembic_render
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Column, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.types import ARRAY, TypeEngine

from driftbot.catalog import Catalog, TableKey, read_catalog
from driftbot.catalog import Table as CatalogTable
from driftbot.containment import contained, own_engine
from driftbot.diff import column_definition, diff_catalogs
from driftbot.filters import apply_project_hooks
from driftbot.findings import Finding
from driftbot.fixops import Context, FixOp, Hazard, change_hazards, fix_ops
from driftbot.ignore import IgnoreRules, apply_ignore_rules
from driftbot.migrate import (
    UNDO_PREFIX,
    EnvOptions,
    logging_preserved,
    pointed_at,
    refresh_revisions,
    run_env,
    scratch_url_for,
    upgrade,
)
from driftbot.postgres import Server, scratch_database
from driftbot.postgres.base import ScratchRole
from driftbot.project import Project, describe_exception, describe_script
from driftbot.sqlnames import quote_ident

log = logging.getLogger(__name__)

CHECKS = ("upgrade", "no_drift", "downgrade", "downgrade_restores", "upgrade_again")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Suggestion:
    revision: str
    down_revision: tuple[str, ...]
    message: str
    filename: str
    path: str  # where it goes in the project (written there only with --write)
    content: str
    verified: bool
    checks: tuple[Check, ...]
    remaining: tuple[Finding, ...]  # drift the suggestion does not remove
    hazards: tuple[Hazard, ...]
    written: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Rename:
    """A probable rename: of a column of `table`, or (kind "table") of the table `old` itself."""

    schema: str
    table: str
    old: str
    new: str
    kind: Literal["column", "table"] = "column"


@dataclass
class Workspace:
    """What the check built that the suggestion reuses."""

    project: Project
    config: Config
    server: Server
    migrated_db: str  # database M, at head
    migrations_catalog: Catalog
    models_catalog: Catalog
    findings: tuple[Finding, ...]
    env_vars: Sequence[str]
    exclude: frozenset[TableKey]
    default_schema: str
    model_schemas: frozenset[str] = frozenset()  # non-default schemas the models use
    message: str | None = None  # the user's revision message
    role: ScratchRole | None = None  # owns migrated_db (an untrusted schema): copies are its, and work runs as it
    metadatas: tuple[MetaData, ...] = ()  # what the check compared (--metadata); else env.py's target_metadata
    ignore: IgnoreRules | None = None  # driftbot's ignore rules, which hold in verification as in the check
    # the version locations env.py set on `context.script` in the check (EnvOptions.version_locations)
    version_locations: tuple[str, ...] | None = None


# --- rendering driftbot's ops inside Alembic's MigrationScript ------------------------------------

class DriftbotOp(ops.MigrateOperation):
    """A FixOp carried through Alembic's op tree; renders as its own lines, reverses exactly."""

    def __init__(self, fix: FixOp) -> None:
        self.fix = fix

    def reverse(self) -> DriftbotOp:
        f = self.fix
        return DriftbotOp(FixOp(f.object, f.downgrade, f.upgrade, f.phase, f.hazards))


@renderers.dispatch_for(DriftbotOp)
def _render_driftbot_op(autogen_context: Any, op: DriftbotOp) -> list[str]:
    return list(op.fix.upgrade) or ["pass"]


def _rename_op(r: Rename, default_schema: str) -> FixOp:
    schema = "" if r.schema == default_schema else f", schema={r.schema!r}"
    if r.kind == "table":
        return FixOp(f"{r.schema}.{r.new}", (f"op.rename_table({r.old!r}, {r.new!r}{schema})",),
                     (f"op.rename_table({r.new!r}, {r.old!r}{schema})",), phase="rename")
    return FixOp(f"{r.schema}.{r.table}.{r.new}",
                 (f"op.alter_column({r.table!r}, {r.old!r}, new_column_name={r.new!r}{schema})",),
                 (f"op.alter_column({r.table!r}, {r.new!r}, new_column_name={r.old!r}{schema})",))


def _apply_renames(upgrade_ops: list[Any], renames: Sequence[Rename], default_schema: str) -> None:
    """Replace autogenerate's drop+add of a renamed column (or table) by a rename that keeps data."""
    for r in renames:
        schema = None if r.schema == default_schema else r.schema
        if r.kind == "table":
            drop_table = next((o for o in upgrade_ops if isinstance(o, ops.DropTableOp)
                               and o.table_name == r.old and o.schema == schema), None)
            create = next((o for o in upgrade_ops if isinstance(o, ops.CreateTableOp)
                           and o.table_name == r.new and o.schema == schema), None)
            if drop_table is not None and create is not None:
                upgrade_ops[upgrade_ops.index(create)] = DriftbotOp(_rename_op(r, default_schema))
                upgrade_ops.remove(drop_table)
            continue
        for container in upgrade_ops:
            if not (isinstance(container, ops.ModifyTableOps) and container.table_name == r.table
                    and container.schema == schema):
                continue
            add = next((o for o in container.ops if isinstance(o, ops.AddColumnOp)
                        and o.column.name == r.new), None)
            drop = next((o for o in container.ops if isinstance(o, ops.DropColumnOp)
                         and o.column_name == r.old), None)
            if add is not None and drop is not None:
                index = container.ops.index(add)
                container.ops[index] = DriftbotOp(_rename_op(r, default_schema))
                container.ops.remove(drop)


def _retarget(op_tree: list[Any], old: str, new: str, schema: str | None) -> None:
    """Point autogenerate's ops at a renamed table's new name."""
    for op in op_tree:
        if getattr(op, "table_name", None) == old and getattr(op, "schema", None) == schema:
            op.table_name = new
        _retarget(getattr(op, "ops", []), old, new, schema)


def _only_schemas(schemas: frozenset[str | None], project_hook: Any) -> Callable[[Any, str, Any], bool]:
    def include_name(name: Any, type_: str, parent_names: Any) -> bool:
        if type_ == "schema" and name not in schemas:
            return False
        return bool(project_hook(name, type_, parent_names)) if project_hook else True
    return include_name


_TYPE_FAMILIES = {"VARCHAR": "text", "TEXT": "text", "CHAR": "text", "CHARACTER": "text", "SMALLINT": "int",
                  "INTEGER": "int", "BIGINT": "int", "NUMERIC": "num", "DECIMAL": "num", "TIMESTAMP": "ts"}


def _family(type_sql: str) -> str:
    word = re.split(r"[ (\[]", type_sql.strip().upper(), maxsplit=1)[0]
    return _TYPE_FAMILIES.get(word, word) + ("[]" if type_sql.strip().endswith("]") else "")


class AlterColumnUsing(ops.AlterColumnOp):
    """alter_column whose type change needs `postgresql_using`, which Alembic's renderer omits."""


@renderers.dispatch_for(AlterColumnUsing)
def _render_alter_using(autogen_context: Any, op: AlterColumnUsing) -> str:
    text = str(alembic_render._alter_column(autogen_context, op))
    return text[:-1] + f",\n               postgresql_using={op.kw['postgresql_using']!r})"


def _add_using(op_tree: list[Any]) -> None:
    """A type change PostgreSQL cannot cast implicitly (text[] to integer[]) gets USING col::type."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    for container in op_tree:
        for op in getattr(container, "ops", ()):
            if not isinstance(op, ops.AlterColumnOp) or op.modify_type is None:
                continue
            to = op.modify_type.compile(dialect=dialect)
            frm = op.existing_type.compile(dialect=dialect) if op.existing_type is not None else ""
            if _family(frm) != _family(to):
                op.__class__ = AlterColumnUsing
                op.kw["postgresql_using"] = f"{quote_ident(op.column_name)}::{to}"


def _walk(op_tree: Sequence[Any]) -> Iterator[Any]:
    for op in op_tree:
        yield op
        yield from _walk(getattr(op, "ops", ()))


def _types_of(op: Any) -> Iterator[TypeEngine[Any]]:
    """The column types an op renders: its columns', modify_type, existing_type."""
    for value in vars(op).values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Column):
                yield item.type
            elif isinstance(item, TypeEngine):
                yield item


def _with_nested(type_: TypeEngine[Any]) -> Iterator[TypeEngine[Any]]:
    yield type_
    for variant in getattr(type_, "_variant_mapping", {}).values():
        yield from _with_nested(variant)
    if isinstance(type_, ARRAY):
        yield from _with_nested(type_.item_type)


def _type_imports(context: Any, op_tree: Sequence[Any]) -> set[str]:
    """`import <module>` for each of the project's own types the file renders as `<module>.Type(...)`.

    Without a user_module_prefix Alembic prefixes a type from outside SQLAlchemy with its
    module but imports nothing, so the file fails with NameError. With a prefix the
    project's script.py.mako imports what the prefix names.
    """
    if context.opts.get("user_module_prefix") is not None:
        return set()
    modules = {type(t).__module__ for op in _walk(op_tree) for top in _types_of(op) for t in _with_nested(top)}
    return {f"import {m}" for m in modules if all(part.isidentifier() for part in m.split("."))
            and not m.startswith("sqlalchemy.") and m not in ("builtins", "__main__")}


def _constraint_columns(definition: str) -> str:
    """`(a, b)` of `UNIQUE (a, b)` / `FOREIGN KEY (a, b) REFERENCES ...`, as PostgreSQL renders it."""
    head = definition.split(" REFERENCES ", 1)[0]
    return head[head.find("("):]


def _pg_name(op: Any, models: Catalog, default_schema: str) -> str | None:
    """The name PostgreSQL gives the models' unnamed UNIQUE or FOREIGN KEY that `op` creates."""
    if isinstance(op, ops.CreateUniqueConstraintOp):
        kind, table, schema, columns = "u", op.table_name, op.schema, op.columns
    elif isinstance(op, ops.CreateForeignKeyOp):
        kind, table, schema, columns = "f", op.source_table, op.kw.get("source_schema"), op.local_cols
    else:
        return None
    found = models.tables.get((schema or default_schema, table))
    if found is None:
        return None
    wanted = "(" + ", ".join(quote_ident(c) for c in columns) + ")"
    names = [c.name for c in found.constraints.values()
             if c.type == kind and _constraint_columns(c.definition) == wanted]
    if isinstance(op, ops.CreateForeignKeyOp) and len(names) > 1:  # the same columns, another target
        names = [n for n in names if _referent(found.constraints[n].definition) == quote_ident(op.referent_table)]
    return names[0] if len(names) == 1 else None


def _referent(definition: str) -> str:
    """The table (unqualified) of `FOREIGN KEY (...) REFERENCES [schema.]table(...)`."""
    return definition.split(" REFERENCES ", 1)[-1].split("(", 1)[0].rsplit(".", 1)[-1]


def _name_unnamed_constraints(op_tree: Sequence[Any], models: Catalog, default_schema: str) -> None:
    """create_unique_constraint(None, ...) works, its reverse drop_constraint(None, ...) cannot:
    name the constraint as PostgreSQL names it (the models' database knows the name)."""
    for op in _walk(op_tree):
        if getattr(op, "constraint_name", "") is None:
            op.constraint_name = _pg_name(op, models, default_schema)


def _directives_hook(fixes: Sequence[FixOp], renames: Sequence[Rename], default_schema: str,
                     models: Catalog) -> Callable[[Any, Any, list[Any]], None]:
    def hook(context: Any, revision: Any, directives: list[Any]) -> None:
        if not directives:
            return
        script = directives[0]
        upgrade_ops = script.upgrade_ops
        _apply_renames(upgrade_ops.ops, renames, default_schema)
        _name_unnamed_constraints(upgrade_ops.ops, models, default_schema)
        phase: dict[str, list[Any]] = {"pre": [], "post": [], "last": [], "rename": []}
        for fix in fixes:
            phase[fix.phase].append(DriftbotOp(fix))
        renamed = [op for op in upgrade_ops.ops if isinstance(op, DriftbotOp) and op.fix.phase == "rename"]
        others = [op for op in upgrade_ops.ops if op not in renamed]
        upgrade_ops.ops = renamed + phase["pre"] + others + phase["post"] + phase["last"]
        script.downgrade_ops.ops = upgrade_ops.reverse().ops
        # tables are renamed first in upgrade() and last in downgrade(): every other op runs
        # while the table has its new name
        for r in renames:
            if r.kind == "table":
                schema = None if r.schema == default_schema else r.schema
                _retarget(upgrade_ops.ops + script.downgrade_ops.ops, r.old, r.new, schema)
        _add_using(upgrade_ops.ops)
        _add_using(script.downgrade_ops.ops)
        # a new set: MigrationScript's default `imports` is one set shared by every script
        script.imports = script.imports | _type_imports(context, upgrade_ops.ops + script.downgrade_ops.ops)
    return hook


# --- scratch configuration and databases ----------------------------------------------------------

_PATH_OPTIONS = ("path_separator", "version_path_separator", "version_locations", "prepend_sys_path")


class ScratchConfig(Config):
    """The project's config whose version locations always include driftbot's temporary one.

    env.py may replace `version_locations` while it runs (config.set_main_option): the
    temporary location is added whenever Alembic reads them, so every ScriptDirectory built
    from this config (driftbot's, and one env.py builds itself) sees the suggestion.
    """

    extra_versions = ""
    default_versions = ""  # alembic's default when version_locations is not set

    def get_version_locations_list(self) -> list[str] | None:
        locations = super().get_version_locations_list() or [self.default_versions]
        return locations if self.extra_versions in locations else [*locations, self.extra_versions]


def scratch_config(project: Project, cfg: Config, extra_versions: Path) -> ScratchConfig:
    """The project's config with one more version location, outside the project's tree."""
    scratch = ScratchConfig(str(project.config_file), ini_section=cfg.config_ini_section,
                            cmd_opts=argparse.Namespace(quiet=True), stdout=sys.stderr)
    scratch.extra_versions = str(extra_versions)
    scratch.default_versions = str(project.script_location / "versions")
    # as the check's run of env.py left them, spelled as the project spells them (its separator)
    section = cfg.config_ini_section
    for option in _PATH_OPTIONS:
        if cfg.file_config.has_option(section, option):
            scratch.file_config.set(section, option, cfg.file_config.get(section, option, raw=True))
    return scratch


GENERIC_TEMPLATE = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
GENERIC_NOTE = (f"rendered with Alembic's generic template ({GENERIC_TEMPLATE}): the project's script directory "
                "has no script.py.mako")


class ScratchScripts(ScriptDirectory):
    """A ScriptDirectory that keeps driftbot's temporary location when env.py replaces its
    `version_locations` (`context.script.version_locations = [...]`) before it loads revisions."""

    extra_versions: Path | None = None
    generic_template = False  # the project has no script.py.mako: Alembic's generic one was used

    @classmethod
    def at(cls, cfg: Config, extra_versions: Path) -> ScratchScripts:
        directory = ScriptDirectory.from_config(cfg)
        directory.__class__ = cls  # from_config builds a plain ScriptDirectory whatever the class
        assert isinstance(directory, ScratchScripts)
        directory.extra_versions = extra_versions
        return directory

    def _generate_template(self, src: Path, dest: Path, **kw: Any) -> None:
        src = Path(src)
        if src.name == "script.py.mako" and not src.exists():
            # some projects ship no template (they never run `alembic revision`): Alembic's own
            # `generic` one renders the same upgrade()/downgrade() file
            src = GENERIC_TEMPLATE
            self.generic_template = True
        super()._generate_template(src, dest, **kw)

    @property
    def _version_locations(self) -> Sequence[Path]:  # not memoized: env.py may change the list
        locations = list(ScriptDirectory._version_locations.fget(self))
        extra = self.extra_versions
        return locations if extra is None or extra.absolute() in locations else [*locations, extra.absolute()]


def project_versions_dir(project: Project, cfg: Config) -> Path:
    locations = cfg.get_version_locations_list()
    return Path(locations[0]) if locations else project.script_location / "versions"


def read(url: URL, exclude: frozenset[TableKey]) -> Catalog:
    engine = own_engine(url)
    try:
        with engine.connect() as conn:
            return read_catalog(conn, exclude)
    finally:
        engine.dispose()


def revision_id(project: Project, findings: Sequence[Finding]) -> str:
    """Same heads and same drift give the same revision id."""
    digest = hashlib.sha256()
    for part in [*project.heads, *sorted(f"{f.kind}|{f.object}|{f.migrations}|{f.models}" for f in findings)]:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def summary_message(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no schema changes"
    tables = list(dict.fromkeys(f"{f.table}" if f.table else str(f.name) for f in findings))
    text = "sync schema with models: " + ", ".join(tables)
    return text if len(text) <= 72 else text[:69].rstrip(", ") + "..."


def _shape(table: CatalogTable) -> dict[str, tuple[str, bool, str | None]]:
    """A table's columns, with serial defaults (whose sequence is named after the table) alike."""
    return {name: (c.type, c.nullable, "nextval" if (c.default or "").startswith("nextval(") else c.default)
            for name, c in table.columns.items()}


def find_renames(ws: Workspace) -> list[Rename]:
    """A column (table) gone and one of the same type, nullability and default (same columns)
    come: probably a rename."""
    renames: list[Rename] = []
    gone_tables = [f for f in ws.findings if f.kind == "table_extra" and f.schema and f.table]
    new_tables = [f for f in ws.findings if f.kind == "table_missing" and f.schema and f.table]
    for old_table in gone_tables:
        shape = _shape(ws.migrations_catalog.tables[(old_table.schema or "", old_table.table or "")])
        new_table = next((n for n in new_tables if n.schema == old_table.schema
                          and _shape(ws.models_catalog.tables[(n.schema or "", n.table or "")]) == shape), None)
        if new_table is not None:
            new_tables.remove(new_table)
            renames.append(Rename(old_table.schema or "", old_table.table or "", old_table.table or "",
                                  new_table.table or "", "table"))
    by_table: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for f in ws.findings:
        if f.kind in ("column_missing", "column_extra") and f.schema and f.table and f.name:
            pair = by_table.setdefault((f.schema, f.table), ([], []))
            pair[0 if f.kind == "column_extra" else 1].append(f.name)
    for (schema, table), (gone, new) in by_table.items():
        m_table, o_table = ws.migrations_catalog.tables[(schema, table)], ws.models_catalog.tables[(schema, table)]
        for old in gone:
            spec = column_definition(m_table.columns[old])
            match = next((n for n in new if column_definition(o_table.columns[n]) == spec), None)
            if match is not None:
                new.remove(match)
                renames.append(Rename(schema, table, old, match))
    return renames


@dataclass
class _Generated:
    path: Path
    content: str
    down_revision: tuple[str, ...]
    fixes: list[FixOp] = field(default_factory=list)


class _Session:
    """One suggestion attempt: a scratch version directory, config and database copies."""

    def __init__(self, ws: Workspace, stack: ExitStack) -> None:
        self.ws = ws
        self.stack = stack
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="driftbot-rev-")))
        self.cfg = scratch_config(ws.project, ws.config, self.tmp)
        m_url = ws.server.admin_url.set(database=ws.migrated_db)
        self.m_url = ws.role.url(m_url) if ws.role else m_url
        self.options: EnvOptions | None = None  # what env.py configured in the last run
        self.generic_template = False  # rendered with Alembic's generic script.py.mako

    def scripts(self) -> tuple[Project, ScriptDirectory]:
        # a ScratchScripts: env.py replacing `context.script.version_locations` keeps the suggestion's
        directory = self.directory()
        return describe_script(directory, self.ws.project.config_file), directory

    def directory(self) -> ScratchScripts:
        directory = ScratchScripts.at(self.cfg, self.tmp)
        if self.ws.version_locations is not None:  # as env.py will set them: the revisions it runs
            directory.version_locations = list(self.ws.version_locations)
        return directory

    def copy_of_migrated(self, label: str) -> URL:
        role = self.ws.role
        url = self.stack.enter_context(scratch_database(self.ws.server, label, template=self.ws.migrated_db,
                                                        owner=role))
        return role.url(url) if role else url

    def generate(self, rev_id: str, message: str, fixes: Sequence[FixOp],
                 renames: Sequence[Rename]) -> _Generated:
        for old in self.tmp.iterdir():
            old.unlink() if old.is_file() else shutil.rmtree(old)
        hook = _directives_hook(fixes, renames, self.ws.default_schema, self.ws.models_catalog)
        with pointed_at(self.cfg, scratch_url_for(self.cfg, self.m_url), self.ws.env_vars), logging_preserved():
            script = self._autogenerate(rev_id, message, hook)
        path = Path(script.path)
        down = script.down_revision
        down_revision = (down,) if isinstance(down, str) else tuple(down or ())
        return _Generated(path, path.read_text(encoding="utf-8"), down_revision, list(fixes))

    def _autogenerate(self, rev_id: str, message: str, hook: Callable[[Any, Any, list[Any]], None]) -> Script:
        """`alembic revision --autogenerate` (command.revision's steps), seeing every schema the models use.

        An env.py without include_schemas only compares the default schema: models in another
        schema would come out as create_table of tables that exist. driftbot widens the view to
        the schemas the models use (and keeps the project's include_name for everything else).
        """
        directory = self.directory()
        # "heads": with two heads the suggestion revises both, a merge revision that also fixes the drift
        args = {"message": message, "autogenerate": True, "sql": False, "head": "heads", "splice": False,
                "branch_label": None, "version_path": str(self.tmp), "rev_id": rev_id, "depends_on": None}
        revision_context = RevisionContext(self.cfg, directory, args, process_revision_directives=hook)

        locations = tuple(str(p) for p in directory.version_locations)

        def retrieve(rev: Any, context: Any) -> list[Any]:
            refresh_revisions(directory, locations)  # env.py may have replaced the version locations
            revision_context.run_autogenerate(rev, context)
            return []

        env = EnvironmentContext(self.cfg, directory, fn=retrieve, as_sql=False,
                                 template_args=revision_context.template_args, revision_context=revision_context)
        schemas = self.ws.model_schemas
        original = env.configure

        configured: list[bool] = []

        def configure(*a: Any, **kw: Any) -> None:
            configured.append(True)
            if schemas and not kw.get("include_schemas"):
                kw["include_schemas"] = True
                kw["include_name"] = _only_schemas(schemas | {None}, kw.get("include_name"))
            original(*a, **kw)

        env.configure = configure  # type: ignore[method-assign]
        with env, contained("autogenerate", self.m_url, self.ws.project.root):
            run_env(directory, self.cfg, self.m_url, lambda: bool(configured))
        scripts = [s for s in revision_context.generate_scripts() if s is not None]
        self.generic_template = directory.generic_template
        if len(scripts) != 1:
            raise RuntimeError("the project's process_revision_directives produced no single revision")
        return scripts[0]

    def migrate(self, url: URL, destination: str, downgrade: bool = False) -> str | None:
        """Run the scratch scripts to `destination`; the error text if it fails."""
        project, script = self.scripts()
        try:
            run, self.options = upgrade(project, self.cfg, script, url, self.ws.env_vars, destination, downgrade,
                                        step="verify")
        except Exception as exc:
            return describe_exception(exc, (self.tmp, project.root))
        return run.failure.error if run.failure else None

    def drift(self, catalog: Catalog) -> list[Finding]:
        """Drift of `catalog` against the models, filtered as the check filtered its findings:
        what the project's include_name/include_object leave out is not the suggestion's to fix."""
        ws = self.ws
        found = [f for f in diff_catalogs(catalog, ws.models_catalog) if f.is_drift]
        if self.options is not None:
            found = apply_project_hooks(found, self.options, ws.metadatas or self.options.target_metadata,
                                        ws.default_schema)
        return apply_ignore_rules(found, ws.ignore) if ws.ignore else found

    def drift_after(self, url: URL) -> list[Finding]:
        return self.drift(read(url, self.ws.exclude))


def suggest(ws: Workspace) -> Suggestion | None:
    drift = [f for f in ws.findings if f.is_drift and f.kind not in ("multiple_heads", "model_rejected")]
    merge = len(ws.project.heads) > 1
    if not drift and not merge:
        return None
    rev_id, message = revision_id(ws.project, drift), ws.message or summary_message(drift)
    if merge and not ws.message:
        message = f"merge heads {', '.join(ws.project.heads)}" + (f"; {message}" if drift else "")
    renames = find_renames(ws)
    ctx = Context(ws.migrations_catalog, ws.models_catalog, tuple(drift))
    versions_dir = project_versions_dir(ws.project, ws.config)
    with ExitStack() as stack:
        session = _Session(ws, stack)
        try:
            pre = [op for op in fix_ops(drift, ctx) if op.phase == "pre"]
            first = session.generate(rev_id, message, pre, renames)
            trial = session.copy_of_migrated("t1")
            error = session.migrate(trial, rev_id)
            # what the remaining ops start from: the trial after autogenerate's ops (a renamed table
            # has its new name there), else the migrated database
            trial_catalog = read(trial, ws.exclude) if error is None else ws.migrations_catalog
            residual = session.drift(trial_catalog) if error is None \
                else [f for f in drift if f.kind in _NEVER_AUTOGENERATED]
            residual_ctx = Context(trial_catalog, ws.models_catalog, tuple(residual))
            post = [op for op in fix_ops(residual, residual_ctx) if op.phase != "pre"]
            generated = session.generate(rev_id, message, pre + post, renames) if post else first
        except Exception as exc:
            log.debug("generating the suggestion failed", exc_info=exc)
            return Suggestion(rev_id, ws.project.heads, message, "", str(versions_dir), "", False, (), tuple(drift),
                              tuple(change_hazards(drift)), error=f"generating the migration failed: "
                              f"{describe_exception(exc, (ws.project.root,))}")
        checks, remaining = verify(session, rev_id, generated)
    hazards = _hazards(drift, generated.fixes, renames)
    return Suggestion(
        revision=rev_id, down_revision=generated.down_revision, message=message,
        filename=generated.path.name, path=str(versions_dir / generated.path.name),
        content=generated.content, verified=all(c.passed for c in checks) and len(checks) == len(CHECKS),
        checks=tuple(checks), remaining=tuple(remaining), hazards=tuple(hazards))


# autogenerate never emits these; used only when its own ops cannot even be applied
_NEVER_AUTOGENERATED = {
    "column_identity_changed", "column_generated_changed", "enum_values_added", "enum_values_removed",
    "enum_values_reordered", "enum_extra", "sequence_extra", "sequence_changed",
    *(f"{k}_{c}" for k in ("check", "primary_key", "exclusion") for c in ("missing", "extra", "changed")),
    *(f"{k}_renamed" for k in ("check", "primary_key", "exclusion", "unique", "foreign_key", "index")),
}


def verify(session: _Session, rev_id: str, generated: _Generated) -> tuple[list[Check], list[Finding]]:
    """Upgrade, compare, downgrade, compare with before, upgrade again: stop at the first failure."""
    checks: list[Check] = []
    url = session.copy_of_migrated("verify")
    error = session.migrate(url, rev_id)
    applied = "applied to a copy of the migrated database"
    if session.generic_template:
        applied += f" ({GENERIC_NOTE})"
    checks.append(Check("upgrade", error is None, error or applied))
    if error:
        return checks, []
    remaining = session.drift_after(url)
    checks.append(Check("no_drift", not remaining, "zero findings against the models" if not remaining
                        else f"{len(remaining)} finding(s) remain"))
    error = session.migrate(url, UNDO_PREFIX + rev_id, downgrade=True)
    checks.append(Check("downgrade", error is None, error or f"downgraded to {', '.join(generated.down_revision) or 'base'}"))
    if error:
        return checks, remaining
    after = read(url, session.ws.exclude)
    same = after == session.ws.migrations_catalog
    difference = diff_catalogs(session.ws.migrations_catalog, after)
    checks.append(Check("downgrade_restores", same, "the catalog is exactly as before the upgrade" if same
                        else "differs from before: " + "; ".join(f"{f.kind} {f.object}" for f in difference)))
    error = session.migrate(url, rev_id)
    checks.append(Check("upgrade_again", error is None, error or "upgraded again"))
    return checks, remaining


def _hazards(drift: Sequence[Finding], fixes: Sequence[FixOp], renames: Sequence[Rename]) -> list[Hazard]:
    renamed = {f"{r.schema}.{r.table}.{c}" if r.kind == "column" else f"{r.schema}.{c}"
               for r in renames for c in (r.old, r.new)}
    hazards = change_hazards(f for f in drift if f.object not in renamed)
    hazards += [h for fix in fixes for h in fix.hazards]
    for r in renames:
        if r.kind == "table":
            hazards.append(Hazard(
                "probable_rename", f"{r.schema}.{r.new}",
                f"table {quote_ident(r.old)} is gone and {quote_ident(r.new)} has the same columns: proposed as "
                f"op.rename_table({r.old!r}, {r.new!r}), which keeps the rows (confirm it). The alternative, "
                f"op.drop_table({r.old!r}) + op.create_table({r.new!r}, ...), loses them."))
            continue
        hazards.append(Hazard(
            "probable_rename", f"{r.schema}.{r.table}.{r.new}",
            f"column {quote_ident(r.old)} is gone and {quote_ident(r.new)} has the same type, nullability and default: "
            f"proposed as a rename that keeps the data (confirm it). The alternative, "
            f"op.drop_column({r.table!r}, {r.old!r}) + op.add_column(...), loses the column's data."))
    return list(dict.fromkeys(hazards))
