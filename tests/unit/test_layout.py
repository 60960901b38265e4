"""The package's shape (issue 15): no import cycles, no private names across modules, short functions.

Read from the source with `ast`, so a violation fails here before a reviewer has to find it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "driftbot"
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    trees = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        trees[name] = ast.parse(path.read_text(), str(path))
    return trees


MODULES = _modules()


def _imports(module: str, tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every driftbot import at any depth
    except under `if TYPE_CHECKING:` (annotations only: no cycle at run time)."""
    found: list[tuple[str, str | None, int]] = []
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("driftbot")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("driftbot"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.append(
                    (target, None, node.lineno) if target in MODULES else (node.module, alias.name, node.lineno)
                )
    return found


def test_no_private_name_is_imported_from_another_module() -> None:
    private = [
        f"{m}:{line} imports {name} from {target}"
        for m, tree in MODULES.items()
        for target, name, line in _imports(m, tree)
        if name and name.startswith("_") and name != "__version__" and target != m
    ]
    assert private == []


def test_modules_import_each_other_without_cycles() -> None:
    graph = {m: {t for t, _, _ in _imports(m, tree) if t in MODULES and t != m} for m, tree in MODULES.items()}
    # a package's __init__ is imported with its modules: only real module-to-module edges count
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_are_short(module: str) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(MODULES[module])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
