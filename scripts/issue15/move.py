"""Issue 15's mechanical move, not yet applied: modules into packages by pipeline stage, imports rewritten.

Rehearsed on a worktree (full suite green). Run from the repository root on a clean tree, with .venv:
    python scripts/issue15/move.py
then add new modules to MOVES first, move test_layout.py to tests/unit/, fix what it lists, and
delete this folder. CONTRIBUTING.draft.md is the map of the moved package.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MOVES = {  # old module -> new module (dotted, below driftbot)
    "cli": "cli.main",
    "cli_detect": "cli.detect",
    "project": "project.locate",
    "migrate": "project.migrate",
    "models_db": "project.models_db",
    "models_process": "project.models_process",
    "filters": "project.hooks",
    "sources": "project.sources",
    "catalog": "compare.catalog",
    "objects": "compare.objects",
    "diff": "compare.diff",
    "equivalence": "compare.equivalence",
    "findings": "compare.findings",
    "kinds": "compare.kinds",
    "ignore": "compare.ignore",
    "suggest": "suggest.generate",
    "fixops": "suggest.fixops",
    "engine": "runs.check",
    "detect": "runs.detect",
    "scratch": "runs.scratch",
    "live": "runs.live",
    "snapshots": "runs.snapshots",
    "review": "runs.review",
    "detect_issue": "runs.detect_issue",
    "tenants": "runs.tenants",
    "report": "report.model",
    "render": "report.render",
    "comment": "report.comment",
    "containment": "safety.containment",
    "masking": "safety.masking",
    "secure": "safety.secure",
    "sqlnames": "safety.sqlnames",
    "settle": "compare.settle",
    "rejected": "suggest.rejected",
    "undo": "suggest.undo",
    "detect_many": "runs.detect_many",
    "escape": "safety.escape",
    "worker": "action.worker",
}
DIRS = {"templates": "report/templates", "schema": "report/schema"}
PACKAGES = {
    "cli": "The command line: flags → Settings → a run → rendered report → exit code (DESIGN.md §exit codes).",
    "project": "The user's project: find the Alembic project, run its env.py and revisions (migrate), build\n"
               "the models' database (models_db, models_process), its include hooks and where objects are declared.",
    "compare": "Compare two databases: read catalogs (catalog, objects), decide equivalence by PostgreSQL\n"
               "(equivalence), diff into Findings (diff, findings), the one table of finding kinds (kinds), ignore rules.",
    "suggest": "The suggested migration: generated in the project's style, driftbot's own ops (fixops), verified.",
    "runs": "The stories: `check` (check), `detect`/`status` (detect, live), the scratch databases shared\n"
            "by both (scratch), snapshots of migration prefixes, the review of a PR's revisions.",
    "report": "The Report value (model), its renderings (render, comment) and their templates and JSON schema.",
    "safety": "The trust boundary in code: containment of project code, the one masker, process hardening,\n"
              "the one SQL identifier quoter and the one Markdown escaper.",
}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".sh", ".j2", ".txt", ""}
ROOT = Path.cwd()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def move_files() -> dict[str, str]:
    moved = {}
    for old, new in MOVES.items():
        src = ROOT / "driftbot" / f"{old}.py"
        if not src.exists():
            continue
        dst = ROOT / "driftbot" / (new.replace(".", "/") + ".py")
        dst.parent.mkdir(exist_ok=True)
        git("mv", str(src), str(dst))
        moved[old] = new
    for old, new in DIRS.items():
        src = ROOT / "driftbot" / old
        if src.exists():
            (ROOT / "driftbot" / new).parent.mkdir(exist_ok=True)
            git("mv", str(src), str(ROOT / "driftbot" / new))
    for pkg, doc in PACKAGES.items():
        init = ROOT / "driftbot" / pkg / "__init__.py"
        if not init.exists():
            init.write_text(f'"""{doc}"""\n')
            git("add", str(init))
    return moved


def rewrite(text: str, moved: dict[str, str]) -> str:
    names = sorted(moved, key=len, reverse=True)
    alt = "|".join(map(re.escape, names))
    # `from driftbot import a, b as c` -> one line per moved name, local names kept
    def from_import(m: re.Match[str]) -> str:
        indent, items = m.group(1), [i.strip() for i in m.group(2).split(",") if i.strip()]
        kept, lines = [], []
        for item in items:
            name, _, alias = item.partition(" as ")
            name, alias = name.strip(), (alias.strip() or name.strip())
            if name in moved:
                pkg, _, mod = moved[name].rpartition(".")
                lines.append(f"{indent}from driftbot.{pkg} import {mod}" + ("" if mod == alias else f" as {alias}"))
            else:
                kept.append(item)
        if kept:
            lines.insert(0, f"{indent}from driftbot import {', '.join(kept)}")
        return "\n".join(lines)
    text = re.sub(rf"(?<!tool\.)\bdriftbot\.({alt})\b", lambda m: f"driftbot.{moved[m.group(1)]}", text)
    text = re.sub(r"^([ \t]*)from driftbot import ([^\n(]+)$", from_import, text, flags=re.M)
    text = re.sub(rf"\bdriftbot/({alt})\.py\b", lambda m: f"driftbot/{moved[m.group(1)].replace('.', '/')}.py", text)
    for old, new in DIRS.items():
        text = re.sub(rf"\bdriftbot/{old}/", f"driftbot/{new}/", text)
    text = text.replace('/ "driftbot" / "schema" /', '/ "driftbot" / "report" / "schema" /')
    text = text.replace('PackageLoader("driftbot", "templates")', 'PackageLoader("driftbot.report", "templates")')
    text = text.replace('driftbot = ["templates/*.j2", "schema/*.json"]',
                        'driftbot = ["report/templates/*.j2", "report/schema/*.json"]')
    return text


def main() -> None:
    if git("status", "--porcelain").strip():
        sys.exit("move.py: the tree is not clean")
    moved = move_files()
    for rel in git("ls-files").splitlines():
        path = ROOT / rel
        if path.suffix not in TEXT_SUFFIXES or not path.is_file() or ("fixtures/projects" in rel and path.suffix != ".py"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite(text, moved)
        if new != text:
            path.write_text(new)
    fix = {  # paths relative to a module that moved one level down
        "driftbot/project/locate.py": ("str(Path(__file__).parent)", "str(Path(__file__).parent.parent)"),
        "driftbot/action/worker.py": ('Path(__file__).parent / "schema"', 'Path(__file__).parent.parent / "report" / "schema"'),
    }
    for rel, (old, new) in fix.items():
        path = ROOT / rel
        assert old in path.read_text(), rel
        path.write_text(path.read_text().replace(old, new))
    subprocess.run([".venv/bin/ruff", "check", "--fix", "--select", "I001", "-q", "."], check=False)
    print("moved:", len(moved), "modules")


if __name__ == "__main__":
    main()
