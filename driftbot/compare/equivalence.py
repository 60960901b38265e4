"""Whether two spellings mean the same: decided by PostgreSQL, never by a regex.

Expressions are parsed by PostgreSQL's own parser (pglast wraps libpg_query) and compared as
trees: parentheses, whitespace and keyword case are gone, identifiers and literals stay
exactly as written. On top of the tree a few rules that PostgreSQL's semantics guarantee:

* casts PostgreSQL inserts around string literals in operator context (`'x'::text` vs
  `'x'::character varying`, `ARRAY['a'::varchar]::text[]` vs `ARRAY['a'::text]`) are dropped:
  varchar has no operators of its own, the comparison is text's either way;
* `pg_catalog.` qualifiers, and the documented synonyms of now() (CURRENT_TIMESTAMP,
  transaction_timestamp()), are one spelling;
* `x = true` is `x`, `x = false` is `NOT x` (the same three-valued result, NULL included);
* context: a WHERE clause (index predicate, EXCLUDE ... WHERE) keeps a row only when the
  predicate is TRUE, so `x IS FALSE` is `NOT x` there; a CHECK rejects a row only when it is
  FALSE, so `x IS NOT FALSE` is `x` there. Neither holds in the other context.

Constants (a literal, a cast of one, an ARRAY of them) are evaluated on the server when the
catalog is read (`evaluate_constants`): `'{}'::text[]` and `ARRAY[]::text[]` are one value.
Values compare by their text output in the column's type, which is stricter than `=`: numeric
`1.0` and `1.00`, or citext `'A'` and `'a'`, print apart. After the diff, settle.py asks the server
about such constant defaults pairwise (IS NOT DISTINCT FROM in the column's type).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, BoolTestType, ConstrType, SQLValueFunctionOp
from pglast.parser import ParseError
from pglast.stream import RawStream

Context = Literal["value", "where", "check"]
Verdict = Literal["same", "renamed", "different"]  # renamed: only the name of a sequence differs
Evaluated = tuple[str, "str | None"]  # (pg_typeof, the value's text output; None: SQL NULL)
Constants = Mapping[str, Evaluated]  # a constant's SQL -> what the server made of it

_IGNORED = frozenset(
    {"location", "list_start", "list_end", "rexpr_list_start", "rexpr_list_end", "stmt_location", "stmt_len"}
)
_TEXTUAL = frozenset({("text",), ("varchar",)})
_NOW = ("now",)  # PostgreSQL documents CURRENT_TIMESTAMP and transaction_timestamp() as now()
_NOW_SYNONYMS = frozenset({("now",), ("transaction_timestamp",)})
# Types whose input and output are PostgreSQL's own (oids below FirstNormalObjectId): evaluating
# their constants runs no code of the database's owner (a domain's CHECK could call any function).
FIRST_NORMAL_OID = 16384


# --- parsing -----------------------------------------------------------------------------------


@lru_cache(maxsize=16384)  # trees are only read; a catalog parses each text once
def parse_expression(text: str) -> ast.Node | None:
    """The tree of an expression as pg_get_expr renders it; None when the parser refuses it."""
    try:
        stmt = parse_sql(f"SELECT {text}")
    except ParseError:
        return None
    select = stmt[0].stmt if len(stmt) == 1 else None
    if not isinstance(select, ast.SelectStmt) or not select.targetList or len(select.targetList) != 1:
        return None  # "a), (b" would parse as two columns: not one expression
    if select.fromClause or select.whereClause:
        return None
    value: ast.Node = select.targetList[0].val
    return value


@lru_cache(maxsize=16384)  # trees are only read; a catalog parses each text once
def parse_constraint(definition: str) -> ast.Constraint | None:
    """The tree of pg_get_constraintdef's text (CHECK (...), FOREIGN KEY ..., EXCLUDE ...)."""
    try:
        stmt = parse_sql(f"ALTER TABLE t ADD CONSTRAINT c {definition}")
    except ParseError:
        return None
    alter = stmt[0].stmt if len(stmt) == 1 else None
    cmds = alter.cmds if isinstance(alter, ast.AlterTableStmt) else None
    if not cmds or len(cmds) != 1:
        return None
    found = cmds[0].def_
    return found if isinstance(found, ast.Constraint) else None


@lru_cache(maxsize=16384)  # trees are only read; a catalog parses each text once
def parse_index(definition: str) -> ast.IndexStmt | None:
    try:
        stmt = parse_sql(definition)
    except ParseError:
        return None
    found = stmt[0].stmt if len(stmt) == 1 else None
    return found if isinstance(found, ast.IndexStmt) else None


def sql_of(node: ast.Node) -> str:
    """SQL text of a constant subtree (what is evaluated, and its key): a small deparser of its own,
    as pglast's RawStream costs milliseconds a call; RawStream for anything else."""
    if isinstance(node, ast.A_Const):
        return _const_sql(node)
    if isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.Node) and node.typeName is not None:
        return f"CAST({sql_of(node.arg)} AS {_type_sql(node.typeName)})"
    if isinstance(node, ast.A_ArrayExpr):
        return "ARRAY[" + ", ".join(sql_of(e) for e in node.elements or ()) + "]"
    if isinstance(node, ast.TypeName):
        return _type_sql(node)
    return str(RawStream()(node))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _const_sql(node: ast.A_Const) -> str:
    val = node.val
    if node.isnull or val is None:
        return "NULL"
    if isinstance(val, ast.Integer):
        return f"({val.ival})"
    if isinstance(val, ast.Float):
        return f"({val.fval})"
    if isinstance(val, ast.Boolean):
        return "true" if val.boolval else "false"
    if isinstance(val, ast.String):
        return "'" + str(val.sval).replace("'", "''") + "'"  # standard_conforming_strings is on (catalog.py)
    return str(RawStream()(node))  # bit strings


def _type_sql(t: ast.TypeName) -> str:
    if t.pct_type or t.setof or (t.typmods and any(not isinstance(m, ast.A_Const) for m in t.typmods)):
        return str(RawStream()(t))
    names = tuple(n.sval for n in t.names or ())
    if names == ("pg_catalog", "interval") and t.typmods:
        return str(RawStream()(t))  # interval's field typmods have a syntax of their own
    text = ".".join(_quote(str(n)) for n in names)
    if t.typmods:
        text += (
            "("
            + ", ".join(str(m.val.ival) if isinstance(m.val, ast.Integer) else _const_sql(m) for m in t.typmods)
            + ")"
        )
    return text + "[]" * len(t.arrayBounds or ())


# --- constants ---------------------------------------------------------------------------------


def is_constant(node: object) -> bool:
    """A literal, a cast of a constant, or an ARRAY of constants: its value needs no row."""
    if isinstance(node, ast.A_Const):
        return True
    if isinstance(node, ast.TypeCast):
        return is_constant(node.arg)
    if isinstance(node, ast.A_ArrayExpr):
        return all(is_constant(e) for e in node.elements or ())
    return False


def constants_in(node: object) -> Iterator[ast.Node]:
    """The largest constant subtrees of a tree, each once per occurrence."""
    if isinstance(node, ast.Node) and is_constant(node):
        yield node
        return
    for child in _children(node):
        yield from constants_in(child)


def type_names_in(node: object) -> Iterator[str]:
    if isinstance(node, ast.TypeName):
        yield sql_of(node)
    for child in _children(node):
        yield from type_names_in(child)


def _fields(node: ast.Node) -> Iterator[tuple[str, object]]:
    """A node's attributes that carry meaning (positions in the text do not)."""
    for name in getattr(type(node), "__slots__", ()):
        if name not in _IGNORED:
            yield name, getattr(node, name)


def _children(node: object) -> Iterator[object]:
    if isinstance(node, tuple | list):
        yield from node
    elif isinstance(node, ast.Node):
        yield from (value for _, value in _fields(node))


def default_key(expression: str, column_type: str) -> str:
    """What a constant default is evaluated as: its value in the column's own type."""
    return f"({expression})::{column_type}"


@dataclass(frozen=True)
class ToEvaluate:
    """Constants of one catalog: SQL of the constant -> the type names it mentions."""

    items: Mapping[str, frozenset[str]]


def collect_constants(
    *,
    expressions: Iterable[str] = (),
    constraints: Iterable[str] = (),
    indexes: Iterable[str] = (),
    defaults: Iterable[tuple[str, str]] = (),
) -> ToEvaluate:
    """Every constant worth evaluating: constant defaults in their column's type, and the
    constant parts of every expression (defaults, checks, predicates, generated columns).
    Each distinct text is parsed once: a thousand tables' defaults are a handful of texts."""
    trees: list[object] = [parse_expression(e) for e in dict.fromkeys(expressions) if _may_hold_constant(e)]
    trees += [parse_constraint(c) for c in dict.fromkeys(constraints) if _may_hold_constant(c)]
    trees += [parse_index(i) for i in dict.fromkeys(indexes) if _may_hold_constant(i)]
    items: dict[str, frozenset[str]] = {}
    for tree in trees:
        for node in constants_in(tree):
            items[sql_of(node)] = frozenset(type_names_in(node))
    for expression, column_type in dict.fromkeys(defaults):
        parsed = parse_expression(expression) if _may_hold_constant(expression) else None
        if parsed is not None and is_constant(parsed):
            items[default_key(sql_of(parsed), column_type)] = frozenset(type_names_in(parsed)) | {column_type}
    return ToEvaluate(items)


# Speed only, never meaning: text without any of these has no constant to evaluate (a serial's
# nextval() is compared by the sequence it names, so its constant needs no evaluation either).
_CONSTANT_HINT = re.compile(r"'|\bARRAY\b|\b\d|\b(?:true|false|NULL)\b")
_NEXTVAL_ONLY = re.compile(r"nextval\('(?:[^']|'')*'::regclass\)")


def _may_hold_constant(text: str) -> bool:
    return bool(_CONSTANT_HINT.search(text)) and not _NEXTVAL_ONLY.fullmatch(text)


Rows = Callable[[str, tuple[object, ...]], list[Any]]


def evaluate_constants(todo: ToEvaluate, rows: Rows) -> dict[str, Evaluated]:
    """The value (text output) of each constant whose types are PostgreSQL's own, in two queries."""
    types = sorted({t for names in todo.items.values() for t in names})
    builtin = (
        {
            r[0]
            for r in rows("SELECT t FROM unnest(%s::text[]) t WHERE to_regtype(t)::oid < %s", (types, FIRST_NORMAL_OID))
        }
        if types
        else set()
    )
    safe = sorted(k for k, names in todo.items.items() if names <= builtin)
    if not safe:
        return {}
    values = ", ".join(f"({i}, pg_typeof({sql})::text, ({sql})::text)" for i, sql in enumerate(safe))
    return {safe[i]: (t, v) for i, t, v in rows(f"SELECT * FROM (VALUES {values}) AS e(i, t, v)", ())}


# --- canonical trees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Canon:
    """How one side's expressions become comparable trees."""

    constants: Constants
    names: bool = True  # False: the sequence a nextval() calls is a placeholder

    def expression(self, text: str | None, context: Context = "value") -> Hashable:
        if text is None:
            return None
        tree = parse_expression(text)
        return ("unparsed", text) if tree is None else self.tree(tree, context)

    def default(self, text: str | None, column_type: str) -> Hashable:
        """A default: a constant by its value in the column's type, else by its tree."""
        if text is None:
            return None
        tree = parse_expression(text)
        if tree is None:
            return ("unparsed", text)
        key = default_key(sql_of(tree), column_type)
        if _is_null(tree):
            return ("value", None)  # NULL cast to anything is NULL
        if is_constant(tree) and key in self.constants:
            return ("value", self.constants[key][1])  # in the column's type: the value alone tells
        return self.tree(_without_cast_to(tree, column_type), "value")

    def constraint(self, definition: str) -> Hashable:
        node = parse_constraint(definition)
        if node is None:
            return ("unparsed", definition)
        fields = dict(_fields(node))
        fields.pop("conname", None)
        context: Context = "check" if node.contype == ConstrType.CONSTR_CHECK else "value"
        return (
            "Constraint",
            tuple(
                sorted(
                    (
                        name,
                        self.tree(
                            value,
                            "check"
                            if name == "raw_expr" and context == "check"
                            else "where"
                            if name == "where_clause"
                            else "value",
                        ),
                    )
                    for name, value in fields.items()
                )
            ),
        )

    def index(self, definition: str) -> Hashable:
        node = parse_index(definition)
        if node is None:
            return ("unparsed", definition)
        fields = dict(_fields(node))
        fields.pop("idxname", None)
        return (
            "IndexStmt",
            tuple(
                sorted(
                    (name, self.tree(value, "where" if name == "whereClause" else "value"))
                    for name, value in fields.items()
                )
            ),
        )

    def tree(self, node: object, context: Context = "value", *, argument: bool = False) -> Hashable:
        if isinstance(node, tuple | list):
            return tuple(self.tree(n) for n in node)
        if isinstance(node, enum.Enum):
            return node.name
        if not isinstance(node, ast.Node):
            return node  # str, int, bool, None: exactly as parsed
        if is_constant(node):
            return self._constant(node, argument)
        rule = _RULES.get(type(node).__name__)
        if rule is not None:
            found = rule(self, node, context)
            if found is not None:
                return found
        return self._plain(node)

    def _plain(self, node: ast.Node) -> Hashable:
        return (type(node).__name__, tuple((name, self.tree(value)) for name, value in _fields(node)))

    def _constant(self, node: ast.Node, argument: bool) -> Hashable:
        sql = sql_of(node)
        text = _text_literal(node, argument)
        if text is not None and text[0] == "text":
            return ("value", "text", text[1])  # a string's value is the string itself
        if sql in self.constants:
            type_, value = self.constants[sql]
            if text is not None:  # string(s): which of text/varchar PostgreSQL cast them to is no matter
                type_ = text[0]
            return ("value", type_, value)
        return text if text is not None else self._plain(node)


def _type_name(t: ast.TypeName | None) -> Hashable:
    if t is None:
        return None
    names = tuple(s.sval for s in t.names or ())
    names = names[1:] if names[:1] == ("pg_catalog",) else names
    return names, sql_of(t)


def _text_literal(node: object, argument: bool) -> tuple[str, Hashable] | None:
    """A string literal ("text", s), or a non-empty ARRAY of them ("text[]", (s, ...)), under casts
    to text/varchar (or arrays of them) only; None for anything else.

    Not as a function's argument: there the cast can pick an overload.
    """
    if argument:
        return None
    if isinstance(node, ast.A_Const):
        return ("text", node.val.sval) if isinstance(node.val, ast.String) else None
    if isinstance(node, ast.A_ArrayExpr):
        elements = [_text_literal(e, argument) for e in node.elements or ()]
        if not elements or any(e is None or e[0] != "text" for e in elements):
            return None
        return ("text[]", tuple(e[1] for e in elements if e is not None))
    if isinstance(node, ast.TypeCast):
        inner = _text_literal(node.arg, argument)
        array = bool(node.typeName and node.typeName.arrayBounds)
        if inner is not None and _plain_textual(node.typeName) and (inner[0] == "text[]") == array:
            return inner  # '{a}'::text[] is not a string but an array: its value decides
    return None


def _is_null(node: object) -> bool:
    if isinstance(node, ast.TypeCast):
        return _is_null(node.arg)
    return isinstance(node, ast.A_Const) and bool(node.isnull)


def _plain_textual(t: ast.TypeName | None) -> bool:
    """text or varchar without a length (a length truncates), or an array of it."""
    if t is None:
        return False
    names = tuple(s.sval for s in t.names or ())
    names = names[1:] if names[:1] == ("pg_catalog",) else names
    return names in _TEXTUAL and not t.typmods and not t.setof and not t.pct_type


def _without_cast_to(tree: ast.Node, column_type: str) -> ast.Node:
    """A default's outermost cast to the column's own type: the value is cast to it on insert anyway."""
    if not isinstance(tree, ast.TypeCast):
        return tree
    target = parse_expression(f"NULL::{column_type}")
    if (
        isinstance(target, ast.TypeCast)
        and isinstance(tree.arg, ast.Node)
        and _type_name(target.typeName) == _type_name(tree.typeName)
    ):
        return tree.arg
    return tree


# --- rules ----------------------------------------------------------------------------------------

Rule = Callable[[Canon, Any, Context], Hashable]


def _func_name(node: ast.FuncCall) -> tuple[str, ...]:
    names = tuple(s.sval for s in node.funcname or ())
    return names[1:] if names[:1] == ("pg_catalog",) else names


def _func_call(c: Canon, node: ast.FuncCall, context: Context) -> Hashable:
    name = _func_name(node)
    plain = not (
        node.agg_order
        or node.agg_filter
        or node.over
        or node.agg_star
        or node.agg_distinct
        or node.func_variadic
        or node.agg_within_group
    )
    args = tuple(node.args or ())
    if name in _NOW_SYNONYMS and not args and plain:
        return _NOW
    if name == ("nextval",) and len(args) == 1 and plain and is_constant(args[0]):
        sequence = sql_of(args[0]) if c.names else "?"
        return ("nextval", sequence)
    rest = c._plain(node)
    assert isinstance(rest, tuple)
    fields = dict(rest[1])
    fields["funcname"] = name
    fields["args"] = tuple(c.tree(a, argument=True) for a in args)
    return ("FuncCall", tuple(fields.items()))


def _sql_value_function(c: Canon, node: ast.SQLValueFunction, context: Context) -> Hashable:
    if node.op == SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP:
        return _NOW
    return None


def _type_cast(c: Canon, node: ast.TypeCast, context: Context) -> Hashable:
    return ("TypeCast", c.tree(node.arg), _type_name(node.typeName))


def _is_bool(c: Canon, node: object, value: bool) -> bool:
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Boolean):
        return bool(node.val.boolval) is value
    return False


def _a_expr(c: Canon, node: ast.A_Expr, context: Context) -> Hashable:
    """`x = true` is x and `x = false` is NOT x (with NULL: NULL either way); likewise <>."""
    op = tuple(s.sval for s in node.name or ())
    single = _single_element(node.rexpr) if node.kind == A_Expr_Kind.AEXPR_OP_ANY else None
    if single is not None:  # x = ANY (ARRAY[e]) is x = e: PostgreSQL stores `x IN (e)` so
        return ("A_Expr", "AEXPR_OP", op, c.tree(node.lexpr), c.tree(single))
    if node.kind == A_Expr_Kind.AEXPR_OP and op not in (("=",), ("<>",), ("!=",)):
        return ("A_Expr", "AEXPR_OP", op, c.tree(node.lexpr), c.tree(node.rexpr))
    if node.kind != A_Expr_Kind.AEXPR_OP:
        return None
    for this, other in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
        for value in (True, False):
            if _is_bool(c, other, value) and this is not None:
                positive = value is (op == ("=",))
                return c.tree(this, context) if positive else _not(c, this)
    return ("A_Expr", "AEXPR_OP", op, c.tree(node.lexpr), c.tree(node.rexpr))


def _single_element(node: object) -> object | None:
    """The element of ARRAY[e] (under casts to text[]/varchar[], which only retype e), else None."""
    if isinstance(node, ast.TypeCast) and _plain_textual(node.typeName):
        inner = _single_element(node.arg)
        return inner if inner is not None and _text_literal(inner, False) is not None else None
    elements = node.elements if isinstance(node, ast.A_ArrayExpr) else None
    if elements and len(elements) == 1:
        element: object = elements[0]
        return element
    return None


def _not(c: Canon, node: object) -> Hashable:
    inner = c.tree(node, "value")
    if isinstance(inner, tuple) and inner[:1] == ("not",):
        twice: Hashable = inner[1]
        return twice  # NOT NOT x is x, NULL included
    return ("not", inner)


def _bool_expr(c: Canon, node: ast.BoolExpr, context: Context) -> Hashable:
    args = list(node.args or ())
    if node.boolop == BoolExprType.NOT_EXPR and len(args) == 1:
        return _not(c, args[0])
    op = "and" if node.boolop == BoolExprType.AND_EXPR else "or"
    # AND/OR keep the context: TRUE (not FALSE) iff all / any operand is TRUE (not FALSE)
    flat: list[Hashable] = []
    for arg in args:
        canon = c.tree(arg, context)
        if isinstance(canon, tuple) and canon[:1] == (op,):
            flat.extend(canon[1])
        else:
            flat.append(canon)
    return (op, tuple(flat))


def _boolean_test(c: Canon, node: ast.BooleanTest, context: Context) -> Hashable:
    test = node.booltesttype
    if context == "where" and test == BoolTestType.IS_TRUE:
        return c.tree(node.arg, "value")  # kept iff TRUE either way
    if context == "where" and test == BoolTestType.IS_FALSE:
        return _not(c, node.arg)
    if context == "check" and test == BoolTestType.IS_NOT_FALSE:
        return c.tree(node.arg, "value")  # rejected iff FALSE either way
    if context == "check" and test == BoolTestType.IS_NOT_TRUE:
        return _not(c, node.arg)
    return ("BooleanTest", c.tree(test), c.tree(node.arg, "value"))


_RULES: dict[str, Rule] = {
    "FuncCall": _func_call,
    "SQLValueFunction": _sql_value_function,
    "TypeCast": _type_cast,
    "A_Expr": _a_expr,
    "BoolExpr": _bool_expr,
    "BooleanTest": _boolean_test,
}


# --- verdicts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judge:
    """Compares the migrations' side (m) with the models' side (o), each with its own constants."""

    m: Constants
    o: Constants

    def canons(self) -> tuple[Canon, Canon]:
        return Canon(self.m), Canon(self.o)

    def _verdict(self, m_key: Callable[[Canon], Hashable], o_key: Callable[[Canon], Hashable]) -> Verdict:
        if m_key(Canon(self.m)) == o_key(Canon(self.o)):
            return "same"
        return "renamed" if m_key(Canon(self.m, names=False)) == o_key(Canon(self.o, names=False)) else "different"

    def default(self, a: str | None, a_type: str, b: str | None, b_type: str) -> Verdict:
        """Column defaults; no default and a NULL one are the same (both insert NULL)."""

        def key(text: str | None, type_: str) -> Callable[[Canon], Hashable]:
            return lambda c: ("value", None) if text is None else c.default(text, type_)

        return self._verdict(key(a, a_type), key(b, b_type))

    def expression(self, a: str | None, b: str | None, context: Context = "value") -> Verdict:
        if a is None or b is None:
            return "same" if a == b else "different"
        return self._verdict(lambda c: c.expression(a, context), lambda c: c.expression(b, context))

    def constraint(self, a: str, b: str) -> Verdict:
        return self._verdict(lambda c: c.constraint(a), lambda c: c.constraint(b))

    def index(self, a: str, b: str) -> Verdict:
        return self._verdict(lambda c: c.index(a), lambda c: c.index(b))


NO_SERVER = Judge({}, {})  # no evaluated constants: trees alone decide
