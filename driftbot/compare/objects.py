"""Stage 3a, continued: every other kind of schema object, one query per kind.

Views, functions, triggers, policies, grants, extensions, partitions, domains, ... are read as
PostgreSQL renders them (pg_get_viewdef, pg_get_functiondef, pg_get_triggerdef, pg_get_expr,
pg_get_ruledef, format_type, aclexplode, pg_describe_object), so two snapshots taken on one
server compare as text, like tables do (catalog.py). Objects that belong to an extension and
system schemas are left out. Only the live database and the migrations' databases have an
opinion on these kinds: models cannot declare them (diff.py), except what a project declares with
alembic_utils or declarative-extensions (project/declared.py). pg_depend, read alongside
(Dependencies), orders the statements that undo a difference (undo.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftbot.safety.sqlnames import literal

TableKey = tuple[str, str]
Ref = tuple[int, int]  # (classid, objid) as pg_depend names an object

_USER = """
    {n}.nspname NOT IN ('pg_catalog', 'information_schema')
    AND {n}.nspname NOT LIKE 'pg\\_toast%' AND {n}.nspname NOT LIKE 'pg\\_temp\\_%'
"""
_MINE = (
    "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = {cls}::regclass AND e.objid = {oid} AND e.deptype = 'e')"
)


def _user(alias: str = "n") -> str:
    return _USER.format(n=alias)


def _mine(cls: str, oid: str) -> str:
    return _MINE.format(cls=f"'{cls}'", oid=oid)


def _ref(cls: str, oid: str) -> str:
    """The object as pg_depend names it (see DEPENDS_SQL)."""
    return f"'{cls}'::regclass::oid::bigint AS ref_class, {oid}::bigint AS ref_oid"


@dataclass(frozen=True)
class SchemaObject:
    """One object of a kind catalog.Table does not hold, keyed by its dotted path.

    `definition` is PostgreSQL's rendering (what is compared); `create` and `drop` are the
    statements that make and remove exactly it (fixops.py), with identifiers quoted by the server.
    """

    type: str  # view, function, trigger, policy, grant, ... (kinds.OBJECT_TYPES)
    path: str  # "public.orders.audit_trigger": what findings name
    schema: str | None
    name: str
    table: str | None
    definition: str
    create: str = ""
    drop: str = ""
    replace: str = ""  # turns another object of this path into this one in place; "": drop, then create
    # (catalog, oid) in pg_depend, in its own database only: for ordering (undo.py); an oid is no part of
    # what an object is (a dropped and re-made view is the same view), so equality leaves it out
    ref: Ref | None = field(default=None, compare=False)
    about_schema: str | None = None  # the schema this is about itself: the schema, a grant on it, its comment


Objects = Mapping[str, Mapping[str, SchemaObject]]  # type -> path -> object


# --- the queries: each returns type, path, schema, name, table, definition, create, drop ------------

RELATION = "format('%I.%I', n.nspname, c.relname)"

VIEWS_SQL = f"""
SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized_view' END AS type,
       n.nspname || '.' || c.relname AS path, n.nspname AS schema, c.relname AS name, NULL AS tbl,
       format('CREATE %sVIEW %s%s AS%s', CASE c.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END, {RELATION},
              CASE WHEN c.reloptions IS NOT NULL THEN format(' WITH (%s)', array_to_string(c.reloptions, ', ')) ELSE '' END,
              rtrim(pg_get_viewdef(c.oid), ';')) AS definition,
       format('DROP %sVIEW %s', CASE c.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END, {RELATION}) AS drop,
       {_ref("pg_class", "c.oid")}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {_user()} AND {_mine("pg_class", "c.oid")}
"""

_ARGS = "pg_get_function_identity_arguments(p.oid)"
FUNCTIONS_SQL = f"""
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS type,
       format('%s.%s(%s)', n.nspname, p.proname, {_ARGS}) AS path, n.nspname AS schema, p.proname AS name,
       NULL AS tbl, rtrim(pg_get_functiondef(p.oid), E'\\n') AS definition,
       format('DROP %s %I.%I(%s)', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
              n.nspname, p.proname, {_ARGS}) AS drop, {_ref("pg_proc", "p.oid")}
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p', 'w') AND {_user()} AND {_mine("pg_proc", "p.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_proc'::regclass AND i.objid = p.oid
                  AND i.deptype = 'i')  -- made with another object (a range type's constructors)
"""

# pg_get_functiondef refuses aggregates: the options CREATE AGGREGATE takes, as the server prints them
AGGREGATES_SQL = f"""
SELECT 'aggregate' AS type, format('%s.%s(%s)', n.nspname, p.proname, {_ARGS}) AS path,
       n.nspname AS schema, p.proname AS name, NULL AS tbl,
       format('CREATE AGGREGATE %I.%I(%s) (SFUNC = %s, STYPE = %s%s%s%s%s%s)', n.nspname, p.proname, {_ARGS},
              a.aggtransfn::regproc, format_type(a.aggtranstype, NULL),
              CASE WHEN a.aggfinalfn <> 0 THEN ', FINALFUNC = ' || a.aggfinalfn::regproc ELSE '' END,
              CASE WHEN a.aggcombinefn <> 0 THEN ', COMBINEFUNC = ' || a.aggcombinefn::regproc ELSE '' END,
              CASE WHEN a.agginitval IS NOT NULL THEN ', INITCOND = ' || quote_literal(a.agginitval) ELSE '' END,
              CASE WHEN a.aggsortop <> 0 THEN ', SORTOP = OPERATOR(' || a.aggsortop::regoperator || ')' ELSE '' END,
              CASE WHEN a.aggkind <> 'n' THEN ', KIND = ' || a.aggkind::text ELSE '' END) AS definition,
       format('DROP AGGREGATE %I.%I(%s)', n.nspname, p.proname, {_ARGS}) AS drop, {_ref("pg_proc", "p.oid")}
FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_user()} AND {_mine("pg_proc", "p.oid")}
"""

# cloned onto partitions from their parent (tgparentid) and internal (FK) triggers are not the user's own
TRIGGERS_SQL = f"""
SELECT 'trigger' AS type, format('%s.%s.%s', n.nspname, c.relname, t.tgname) AS path, n.nspname AS schema,
       t.tgname AS name, c.relname AS tbl,
       pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'O' THEN ''
           ELSE format(E';\\nALTER TABLE %s %s TRIGGER %I', {RELATION},
                       CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'A' THEN 'ENABLE ALWAYS'
                       ELSE 'ENABLE REPLICA' END, t.tgname) END AS definition,
       format('DROP TRIGGER %I ON %s', t.tgname, {RELATION}) AS drop, {_ref("pg_trigger", "t.oid")}
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND {_user()}
"""

ROW_SECURITY_SQL = f"""
SELECT 'row_security' AS type, n.nspname || '.' || c.relname AS path, n.nspname AS schema, c.relname AS name,
       c.relname AS tbl,
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', {RELATION})
         || CASE WHEN c.relforcerowsecurity THEN format(E';\\nALTER TABLE %s FORCE ROW LEVEL SECURITY', {RELATION})
            ELSE '' END AS definition,
       format(E'ALTER TABLE %s NO FORCE ROW LEVEL SECURITY;\\nALTER TABLE %s DISABLE ROW LEVEL SECURITY',
              {RELATION}, {RELATION}) AS drop
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (c.relrowsecurity OR c.relforcerowsecurity) AND {_user()}
"""

_ROLES = (
    "(SELECT string_agg(CASE r WHEN 0 THEN 'PUBLIC' ELSE quote_ident(r::regrole::text) END, ', ' ORDER BY 1) "
    "FROM unnest(p.polroles) AS r)"
)
POLICIES_SQL = f"""
SELECT 'policy' AS type, format('%s.%s.%s', n.nspname, c.relname, p.polname) AS path, n.nspname AS schema,
       p.polname AS name, c.relname AS tbl,
       format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, {RELATION},
              CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                            WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, {_ROLES},
              ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
              ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')') AS definition,
       format('DROP POLICY %I ON %s', p.polname, {RELATION}) AS drop, {_ref("pg_policy", "p.oid")}
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_user()}
"""

# Per (object, grantee), only where the privileges differ from the default ones (acldefault: a NULL
# ACL), so a thousand untouched tables give no rows. The owner differs between a production database
# and a scratch one, so the owner is named OWNER in what is compared, by name in the statements.
# A column's own grants (pg_attribute.attacl: GRANT SELECT (col) ON t) are keyed "schema.table (col)";
# `cols` is the column list each privilege and REVOKE take, '' for a whole object. Privileges held
# WITH GRANT OPTION are granted so again.
_GRANTEE = "CASE WHEN {g} = 0 THEN 'PUBLIC' WHEN {g} = a.owner THEN 'OWNER' ELSE quote_ident({g}::regrole::text) END"
_ROLE = "CASE WHEN {g} = 0 THEN 'PUBLIC' ELSE quote_ident({g}::regrole::text) END"
_ACL_TARGETS = f"""
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS what, n.nspname || '.' || c.relname AS path,
       {RELATION} AS ident, n.nspname AS schema, c.relname AS tbl, c.relowner AS owner, c.relacl AS acl,
       acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner) AS dflt, '' AS cols
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relacl IS NOT NULL AND {_user()} AND {_mine("pg_class", "c.oid")}
UNION ALL
SELECT 'TABLE', format('%s.%s (%s)', n.nspname, c.relname, at.attname), {RELATION}, n.nspname, c.relname,
       c.relowner, at.attacl, NULL::aclitem[], format(' (%I)', at.attname)
FROM pg_attribute at JOIN pg_class c ON c.oid = at.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE at.attacl IS NOT NULL AND at.attnum > 0 AND NOT at.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {_user()} AND {_mine("pg_class", "c.oid")}
UNION ALL
SELECT 'SCHEMA', n.nspname, quote_ident(n.nspname), n.nspname, NULL, n.nspowner, n.nspacl,
       acldefault('n', n.nspowner), ''
FROM pg_namespace n WHERE n.nspacl IS NOT NULL AND {_user()} AND {_mine("pg_namespace", "n.oid")}
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       format('%s.%s(%s)', n.nspname, p.proname, {_ARGS}), format('%I.%I(%s)', n.nspname, p.proname, {_ARGS}),
       n.nspname, NULL, p.proowner, p.proacl, acldefault('f', p.proowner), ''
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proacl IS NOT NULL AND {_user()} AND {_mine("pg_proc", "p.oid")}
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname || '.' || t.typname,
       format('%I.%I', n.nspname, t.typname), n.nspname, NULL, t.typowner, t.typacl, acldefault('T', t.typowner), ''
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typacl IS NOT NULL AND t.typtype IN ('e', 'd', 'r', 'c') AND {_user()} AND {_mine("pg_type", "t.oid")}
"""
_PRIVILEGES = (
    "string_agg(x.privilege_type || a.cols || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END, "
    "', ' ORDER BY x.privilege_type)"
)
_HELD = (
    "string_agg(x.privilege_type || a.cols, ', ' ORDER BY x.privilege_type) FILTER (WHERE {grantable}x.is_grantable)"
)
# what a role holds (plain, grantable) turned into statements: REVOKE ALL first, then one GRANT per kind
_REGRANT = """format('REVOKE ALL%s ON %s %s FROM %s', a.cols, a.what, a.ident, {role})
         || CASE WHEN {plain} IS NULL THEN '' ELSE format(E';\\nGRANT %s ON %s %s TO %s', {plain}, a.what, a.ident, {role}) END
         || CASE WHEN {grantable} IS NULL THEN '' ELSE format(E';\\nGRANT %s ON %s %s TO %s WITH GRANT OPTION',
                                                          {grantable}, a.what, a.ident, {role}) END"""
_ACLS = (
    "SELECT a.path, x.grantee AS role, {privileges} AS privileges, {plain} AS plain, {grantable} AS grantable "
    "FROM a CROSS JOIN LATERAL aclexplode(a.{acl}) x GROUP BY a.path, x.grantee"
)
_HAVE = _ACLS.format(
    privileges=_PRIVILEGES, plain=_HELD.format(grantable="NOT "), grantable=_HELD.format(grantable=""), acl="acl"
)
_DFLT = _ACLS.format(
    privileges=_PRIVILEGES, plain=_HELD.format(grantable="NOT "), grantable=_HELD.format(grantable=""), acl="dflt"
)
GRANTS_SQL = f"""
WITH a AS ({_ACL_TARGETS}),
have AS ({_HAVE}),
dflt AS ({_DFLT})
SELECT 'grant' AS type, a.path || ' TO ' || {_GRANTEE.format(g="g.role")} AS path, a.schema,
       {_GRANTEE.format(g="g.role")} AS name, a.tbl,
       CASE WHEN g.have IS NULL
            THEN format('REVOKE ALL%s ON %s %s FROM %s', a.cols, a.what, a.ident, {_GRANTEE.format(g="g.role")})
            ELSE format('GRANT %s ON %s %s TO %s', g.have, a.what, a.ident, {_GRANTEE.format(g="g.role")}) END
         AS definition,
       {_REGRANT.format(role=_ROLE.format(g="g.role"), plain="g.have_plain", grantable="g.have_grantable")} AS create,
       {_REGRANT.format(role=_ROLE.format(g="g.role"), plain="g.dflt_plain", grantable="g.dflt_grantable")} AS drop,
       CASE WHEN a.what = 'SCHEMA' THEN a.schema END AS about_schema
FROM a JOIN (SELECT coalesce(h.path, d.path) AS path, coalesce(h.role, d.role) AS role,
                    h.privileges AS have, d.privileges AS dflt, h.plain AS have_plain, h.grantable AS have_grantable,
                    d.plain AS dflt_plain, d.grantable AS dflt_grantable
             FROM have h FULL JOIN dflt d ON d.path = h.path AND d.role = h.role
             WHERE h.privileges IS DISTINCT FROM d.privileges) g ON g.path = a.path
"""

EXTENSIONS_SQL = """
SELECT 'extension' AS type, e.extname AS path, NULL AS schema, e.extname AS name, NULL AS tbl,
       format('CREATE EXTENSION %I WITH SCHEMA %I VERSION %L', e.extname, n.nspname, e.extversion) AS definition,
       format('DROP EXTENSION %I', e.extname) AS drop,
       format('ALTER EXTENSION %I UPDATE TO %L', e.extname, e.extversion) AS replace
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
"""

SCHEMAS_SQL = f"""
SELECT 'schema' AS type, n.nspname AS path, NULL AS schema, n.nspname AS name, NULL AS tbl,
       format('CREATE SCHEMA %I', n.nspname) AS definition, format('DROP SCHEMA %I', n.nspname) AS drop,
       n.nspname AS about_schema
FROM pg_namespace n WHERE {_user()} AND {_mine("pg_namespace", "n.oid")}
"""

# pg_collation's columns differ between majors (colliculocale, colllocale): the row as JSON, minus ids
COLLATIONS_SQL = f"""
SELECT 'collation' AS type, n.nspname || '.' || co.collname AS path, n.nspname AS schema, co.collname AS name,
       NULL AS tbl, format('CREATE COLLATION %I.%I', n.nspname, co.collname) AS head,
       (to_jsonb(co) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion')::text AS options,
       format('DROP COLLATION %I.%I', n.nspname, co.collname) AS drop
FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
WHERE {_user()} AND {_mine("pg_collation", "co.oid")}
"""

_TYPE_NAME = "format('%I.%I', n.nspname, t.typname)"
DOMAINS_SQL = f"""
SELECT 'domain' AS type, n.nspname || '.' || t.typname AS path, n.nspname AS schema, t.typname AS name, NULL AS tbl,
       format('CREATE DOMAIN %s AS %s%s%s%s%s', {_TYPE_NAME}, format_type(t.typbasetype, t.typtypmod),
              CASE WHEN t.typcollation <> bt.typcollation THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END,
              ' DEFAULT ' || t.typdefault, CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END,
              (SELECT string_agg(format(' CONSTRAINT %I %s', con.conname, pg_get_constraintdef(con.oid)), ''
                                 ORDER BY con.conname)
               FROM pg_constraint con WHERE con.contypid = t.oid)) AS definition,
       format('DROP DOMAIN %s', {_TYPE_NAME}) AS drop, {_ref("pg_type", "t.oid")}
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
WHERE t.typtype = 'd' AND {_user()} AND {_mine("pg_type", "t.oid")}
"""

COMPOSITES_SQL = f"""
SELECT 'composite_type' AS type, n.nspname || '.' || t.typname AS path, n.nspname AS schema, t.typname AS name,
       NULL AS tbl,
       format('CREATE TYPE %s AS (%s)', {_TYPE_NAME},
              (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                                 ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)) AS definition,
       format('DROP TYPE %s', {_TYPE_NAME}) AS drop, {_ref("pg_type", "t.oid")}
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typtype = 'c' AND c.relkind = 'c' AND {_user()} AND {_mine("pg_type", "t.oid")}
"""

RANGES_SQL = f"""
SELECT 'range_type' AS type, n.nspname || '.' || t.typname AS path, n.nspname AS schema, t.typname AS name,
       NULL AS tbl,
       format('CREATE TYPE %s AS RANGE (SUBTYPE = %s%s%s%s%s)', {_TYPE_NAME}, format_type(r.rngsubtype, NULL),
              ', SUBTYPE_OPCLASS = ' || (SELECT format('%I.%I', on_.nspname, oc.opcname) FROM pg_opclass oc
                                         JOIN pg_namespace on_ ON on_.oid = oc.opcnamespace
                                         WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault),
              CASE WHEN r.rngcollation <> 0 THEN ', COLLATION = ' || r.rngcollation::regcollation::text ELSE '' END,
              CASE WHEN r.rngcanonical <> 0 THEN ', CANONICAL = ' || r.rngcanonical::regproc ELSE '' END,
              CASE WHEN r.rngsubdiff <> 0 THEN ', SUBTYPE_DIFF = ' || r.rngsubdiff::regproc ELSE '' END) AS definition,
       format('DROP TYPE %s', {_TYPE_NAME}) AS drop, {_ref("pg_type", "t.oid")}
FROM pg_range r JOIN pg_type t ON t.oid = r.rngtypid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {_user()} AND {_mine("pg_type", "t.oid")}
"""

PARTITION_KEYS_SQL = f"""
SELECT 'partition_key' AS type, n.nspname || '.' || c.relname AS path, n.nspname AS schema, c.relname AS name,
       c.relname AS tbl, 'PARTITION BY ' || pg_get_partkeydef(c.oid) AS definition, '' AS drop
FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_user()} AND {_mine("pg_class", "c.oid")}
"""

# a partition's place (parent and bounds) and a child's INHERITS, keyed on the child
PARTITIONS_SQL = f"""
SELECT CASE WHEN c.relispartition THEN 'partition' ELSE 'inheritance' END AS type,
       n.nspname || '.' || c.relname AS path, n.nspname AS schema, c.relname AS name, c.relname AS tbl,
       CASE WHEN c.relispartition THEN
         format('ALTER TABLE %s ATTACH PARTITION %s %s', min(format('%I.%I', pn.nspname, p.relname)), {RELATION},
                pg_get_expr(c.relpartbound, c.oid))
       ELSE format('INHERITS (%s)', string_agg(format('%I.%I', pn.nspname, p.relname), ', ' ORDER BY i.inhseqno))
       END AS definition,
       CASE WHEN c.relispartition THEN NULL
       ELSE string_agg(format('ALTER TABLE %s INHERIT %I.%I', {RELATION}, pn.nspname, p.relname), E';\\n'
                       ORDER BY i.inhseqno) END AS create,
       CASE WHEN c.relispartition THEN
         format('ALTER TABLE %s DETACH PARTITION %s', min(format('%I.%I', pn.nspname, p.relname)), {RELATION})
       ELSE string_agg(format('ALTER TABLE %s NO INHERIT %I.%I', {RELATION}, pn.nspname, p.relname), E';\\n'
                       ORDER BY i.inhseqno) END AS drop
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE c.relkind IN ('r', 'p', 'f') AND {_user()} AND {_mine("pg_class", "c.oid")}
GROUP BY c.oid, n.nspname, c.relname, c.relispartition, c.relpartbound
"""

RULES_SQL = f"""
SELECT 'rule' AS type, format('%s.%s.%s', n.nspname, c.relname, r.rulename) AS path, n.nspname AS schema,
       r.rulename AS name, c.relname AS tbl,
       rtrim(pg_get_ruledef(r.oid), ';') || CASE r.ev_enabled WHEN 'O' THEN '' WHEN 'D'
           THEN format(E';\\nALTER TABLE %s DISABLE RULE %I', {RELATION}, r.rulename)
           ELSE format(E';\\nALTER TABLE %s ENABLE %s RULE %I', {RELATION},
                       CASE r.ev_enabled WHEN 'A' THEN 'ALWAYS' ELSE 'REPLICA' END, r.rulename) END AS definition,
       format('DROP RULE %I ON %s', r.rulename, {RELATION}) AS drop, {_ref("pg_rewrite", "r.oid")}
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND {_user()} AND {_mine("pg_class", "c.oid")}
"""

# only what differs from a plain table: UNLOGGED, storage parameters, a replica identity other than the default
TABLE_OPTIONS_SQL = f"""
SELECT 'table_options' AS type, n.nspname || '.' || c.relname AS path, n.nspname AS schema, c.relname AS name,
       c.relname AS tbl,
       concat_ws(E';\\n',
         CASE WHEN c.relpersistence = 'u' THEN format('ALTER TABLE %s SET UNLOGGED', {RELATION}) END,
         CASE WHEN c.reloptions IS NOT NULL
              THEN format('ALTER TABLE %s SET (%s)', {RELATION}, array_to_string(c.reloptions, ', ')) END,
         CASE c.relreplident WHEN 'n' THEN format('ALTER TABLE %s REPLICA IDENTITY NOTHING', {RELATION})
              WHEN 'f' THEN format('ALTER TABLE %s REPLICA IDENTITY FULL', {RELATION})
              WHEN 'i' THEN format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %I', {RELATION},
                                   (SELECT ic.relname FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                                    WHERE x.indrelid = c.oid AND x.indisreplident)) END) AS definition,
       concat_ws(E';\\n',
         CASE WHEN c.relpersistence = 'u' THEN format('ALTER TABLE %s SET LOGGED', {RELATION}) END,
         CASE WHEN c.reloptions IS NOT NULL THEN format('ALTER TABLE %s RESET (%s)', {RELATION},
              (SELECT string_agg(split_part(o, '=', 1), ', ') FROM unnest(c.reloptions) o)) END,
         CASE WHEN c.relreplident <> 'd' THEN format('ALTER TABLE %s REPLICA IDENTITY DEFAULT', {RELATION}) END)
       AS drop
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND (c.relpersistence = 'u' OR c.reloptions IS NOT NULL OR c.relreplident <> 'd')
  AND {_user()} AND {_mine("pg_class", "c.oid")}
"""

# Comments on every kind catalog.py does not compare already (tables, columns, indexes, constraints
# of tables), named by pg_describe_object; its identity (pg_identify_object) is the COMMENT ON target.
COMMENTS_SQL = """
SELECT 'comment' AS type, o.type || ' ' || o.identity AS path, o.schema AS schema,
       o.name AS name, NULL AS tbl, upper(o.type) AS what, o.identity AS ident, d.description AS text,
       (SELECT s.nspname FROM pg_namespace s WHERE d.classoid = 'pg_namespace'::regclass AND s.oid = d.objoid)
         AS about_schema
FROM pg_description d
CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
WHERE o.type NOT IN ('table', 'table column', 'index', 'table constraint')
  AND coalesce(o.schema, '') NOT IN ('pg_catalog', 'information_schema')
  AND coalesce(o.schema, '') NOT LIKE 'pg\\_toast%' AND coalesce(o.schema, '') NOT LIKE 'pg\\_temp\\_%'
  AND (o.schema IS NOT NULL OR o.type IN ('trigger', 'policy', 'rule')  -- an extension's is its control file's
       OR (o.type = 'schema' AND o.identity NOT IN ('pg_catalog', 'information_schema')
           AND o.identity NOT LIKE 'pg\\_toast%'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')
  AND d.classoid <> 'pg_largeobject'::regclass
"""

# COMMENT ON takes these words for pg_identify_object's types that differ from them
_COMMENT_TARGETS = {
    "VIEW COLUMN": "COLUMN",
    "MATERIALIZED VIEW COLUMN": "COLUMN",
    "COMPOSITE TYPE COLUMN": "COLUMN",
    "DOMAIN CONSTRAINT": "CONSTRAINT",
    "TRIGGER": "TRIGGER",
    "POLICY": "POLICY",
    "RULE": "RULE",
}


def _comment(r: Any) -> SchemaObject:
    target = _COMMENT_TARGETS.get(r.what, r.what)
    ident = r.ident
    if target in ("TRIGGER", "POLICY", "RULE", "CONSTRAINT"):
        # pg_identify_object writes "name on schema.table"; COMMENT ON takes "name ON [DOMAIN] schema.table"
        ident = ident.replace(" on ", " ON DOMAIN " if r.what == "DOMAIN CONSTRAINT" else " ON ", 1)
    on = f"COMMENT ON {target} {ident}"
    return SchemaObject(
        "comment",
        r.path,
        r.schema,
        r.name or r.path,
        r.tbl,
        r.text,
        create=f"{on} IS {literal(r.text)}",
        drop=f"{on} IS NULL",
        replace=f"{on} IS {literal(r.text)}",
        about_schema=r.about_schema,
    )


def _ref_of(r: Any) -> Ref | None:
    fields = r._asdict()
    return (fields["ref_class"], fields["ref_oid"]) if fields.get("ref_oid") is not None else None


def _plain(r: Any) -> SchemaObject:
    fields = r._asdict()
    return SchemaObject(
        r.type,
        r.path,
        r.schema,
        r.name,
        r.tbl,
        r.definition,
        create=fields.get("create") or r.definition,
        drop=r.drop,
        replace=fields.get("replace") or "",
        ref=_ref_of(r),
        about_schema=fields.get("about_schema"),
    )


def _function(r: Any) -> SchemaObject:
    """CREATE OR REPLACE changes a body in place, as long as what it returns stays."""
    return SchemaObject(
        r.type,
        r.path,
        r.schema,
        r.name,
        r.tbl,
        r.definition,
        create=r.definition,
        drop=r.drop,
        replace=r.definition,
        ref=_ref_of(r),
    )


def _grant(r: Any) -> SchemaObject:
    return SchemaObject(
        r.type,
        r.path,
        r.schema,
        r.name,
        r.tbl,
        r.definition,
        create=r.create,
        drop=r.drop,
        replace=r.create,
        about_schema=r.about_schema,
    )


def _collation(r: Any) -> SchemaObject:
    options = json.loads(r.options)
    text = f"{r.head} ({', '.join(f'{k} = {v}' for k, v in sorted(options.items()) if v is not None)})"
    create = _collation_create(r.head, options)
    return SchemaObject(r.type, r.path, r.schema, r.name, r.tbl, text, create=create, drop=r.drop)


def _collation_create(head: str, options: Mapping[str, Any]) -> str:
    provider = {"i": "icu", "c": "libc", "d": "libc"}.get(str(options.get("collprovider")), "libc")
    parts = [f"provider = {provider}"]
    locale = options.get("colliculocale") or options.get("colllocale")
    if provider == "icu" and locale:
        parts.append(f"locale = {literal(str(locale))}")
    else:
        parts += [
            f"lc_collate = {literal(str(options.get('collcollate') or ''))}",
            f"lc_ctype = {literal(str(options.get('collctype') or ''))}",
        ]
    if options.get("collisdeterministic") is False:
        parts.append("deterministic = false")
    return f"{head} ({', '.join(parts)})"


READERS: tuple[tuple[str, Callable[[Any], SchemaObject]], ...] = (
    (SCHEMAS_SQL, _plain),
    (EXTENSIONS_SQL, _plain),
    (COLLATIONS_SQL, _collation),
    (DOMAINS_SQL, _plain),
    (COMPOSITES_SQL, _plain),
    (RANGES_SQL, _plain),
    (FUNCTIONS_SQL, _function),
    (AGGREGATES_SQL, _plain),
    (VIEWS_SQL, _plain),
    (TRIGGERS_SQL, _plain),
    (ROW_SECURITY_SQL, _plain),
    (POLICIES_SQL, _plain),
    (PARTITION_KEYS_SQL, _plain),
    (PARTITIONS_SQL, _plain),
    (RULES_SQL, _plain),
    (TABLE_OPTIONS_SQL, _plain),
    (GRANTS_SQL, _grant),
    (COMMENTS_SQL, _comment),
)


def read_objects(
    rows: Callable[[str], list[Any]], exclude: Iterable[TableKey] = ()
) -> dict[str, dict[str, SchemaObject]]:
    """Every object of the kinds above, one query per kind. `exclude`: tables left out (the version
    table), with whatever hangs on them."""
    excluded = set(exclude)
    found: dict[str, dict[str, SchemaObject]] = {}
    for sql, make in READERS:
        for r in rows(sql):
            obj = make(r)
            if (
                obj.schema is not None
                and (obj.schema, obj.table or obj.name) in excluded
                and (obj.table is not None or obj.type in ("grant", "table_options"))
            ):
                continue
            found.setdefault(obj.type, {})[obj.path] = obj
    return found


def scoped(objects: Objects, schemas: frozenset[str]) -> dict[str, dict[str, SchemaObject]]:
    """Only the objects in `schemas` (and those of no schema: extensions; schemas by their own name)."""

    def keep(o: SchemaObject) -> bool:
        if o.schema is None:
            return o.type != "schema" or o.name in schemas
        return o.schema in schemas

    return {kind: {p: o for p, o in by_path.items() if keep(o)} for kind, by_path in objects.items()}


def object_schemas(objects: Objects) -> set[str]:
    return {o.schema for by_path in objects.values() for o in by_path.values() if o.schema}


# --- what depends on what (pg_depend), for the order of undo.py's statements -------------------------

# Edges between the objects above and the column defaults that use them, as (classid, objid): a view is
# named by its relation, not by its _RETURN rule, and a relation's row type by the relation. Only
# dependents of these catalogs and only user objects (oid >= 16384, FirstNormalObjectId), so a database
# of a thousand plain tables gives few rows.
DEPENDS_SQL = """
SELECT DISTINCT CASE WHEN r.oid IS NOT NULL THEN 'pg_class'::regclass::oid ELSE d.classid END::bigint AS cls,
       coalesce(r.ev_class, d.objid)::bigint AS obj,
       CASE WHEN t.oid IS NOT NULL THEN 'pg_class'::regclass::oid ELSE d.refclassid END::bigint AS ref_cls,
       coalesce(t.typrelid, d.refobjid)::bigint AS ref_obj
FROM pg_depend d
LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid AND r.rulename = '_RETURN'
LEFT JOIN (pg_type t JOIN pg_class tc ON tc.oid = t.typrelid AND tc.relkind IN ('r', 'p', 'v', 'm', 'f'))
       ON d.refclassid = 'pg_type'::regclass AND t.oid = d.refobjid
WHERE d.deptype IN ('n', 'a') AND d.objid >= 16384 AND d.refobjid >= 16384
  AND d.classid IN ('pg_rewrite'::regclass, 'pg_proc'::regclass, 'pg_trigger'::regclass, 'pg_policy'::regclass,
                    'pg_type'::regclass, 'pg_attrdef'::regclass)
  AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass, 'pg_collation'::regclass)
  AND NOT (d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass)  -- serial: its sequence
"""

# the column defaults among them: what `ALTER COLUMN ... DROP DEFAULT` takes to let a function go
DEFAULTS_SQL = f"""
SELECT 'pg_attrdef'::regclass::oid::bigint AS cls, ad.oid::bigint AS obj, n.nspname, c.relname, a.attname
FROM pg_attrdef ad JOIN pg_class c ON c.oid = ad.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
WHERE {_user()} AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                           AND d.refclassid IN ('pg_proc'::regclass, 'pg_type'::regclass) AND d.refobjid >= 16384)
"""


@dataclass(frozen=True)
class Dependencies:
    """One database's pg_depend, cut down to what orders undo.py's statements (its oids mean nothing elsewhere)."""

    on: Mapping[Ref, frozenset[Ref]] = field(default_factory=dict)  # object -> what it depends on
    defaults: Mapping[Ref, tuple[str, str, str]] = field(default_factory=dict)  # pg_attrdef -> schema, table, column

    def dependents(self, refs: Iterable[Ref]) -> set[Ref]:
        """Everything that depends on `refs`, directly or through others (not `refs` themselves)."""
        users: dict[Ref, set[Ref]] = {}
        for obj, needed in self.on.items():
            for ref in needed:
                users.setdefault(ref, set()).add(obj)
        todo, found = list(refs), set()
        while todo:
            for user in users.get(todo.pop(), ()):
                if user not in found:
                    found.add(user)
                    todo.append(user)
        return found - set(refs)

    def needs(self, ref: Ref, among: Mapping[Ref, object]) -> set[Ref]:
        """The refs of `among` that `ref` depends on, directly or through objects not in `among`."""
        todo, seen, found = list(self.on.get(ref, ())), {ref}, set()
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            if dep in among:
                found.add(dep)
            else:
                todo.extend(self.on.get(dep, ()))
        return found


def read_dependencies(rows: Callable[[str], list[Any]]) -> Dependencies:
    on: dict[Ref, set[Ref]] = {}
    for r in rows(DEPENDS_SQL):
        if (r.cls, r.obj) != (r.ref_cls, r.ref_obj):
            on.setdefault((r.cls, r.obj), set()).add((r.ref_cls, r.ref_obj))
    defaults = {(r.cls, r.obj): (r.nspname, r.relname, r.attname) for r in rows(DEFAULTS_SQL)}
    return Dependencies({k: frozenset(v) for k, v in on.items()}, defaults)
