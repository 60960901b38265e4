"""README.md's tables of the action's inputs and outputs, generated from action.yml.

python scripts/action_docs.py          # rewrite the tables in README.md
python scripts/action_docs.py --check  # exit 1 when README.md is out of date (tests run this)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- action-docs:begin (generated from action.yml by scripts/action_docs.py: do not edit) -->"
END = "<!-- action-docs:end -->"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def tables(action: dict[str, Any]) -> str:
    lines = ["| input | default | description |", "|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = str(spec.get("default", ""))
        shown = f"`{default}`" if default else "(none)"
        lines.append(f"| `{name}` | {_cell(shown)} | {_cell(spec['description'])} |")
    lines += ["", "| output | description |", "|---|---|"]
    for name, spec in action["outputs"].items():
        lines.append(f"| `{name}` | {_cell(spec['description'])} |")
    return "\n".join(lines)


def render(readme: str, action: dict[str, Any]) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{tables(action)}\n{END}", readme)


def main(argv: list[str]) -> int:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    wanted = render(readme, action)
    if "--check" in argv:
        if wanted != readme:
            print("README.md's action tables are out of date: run python scripts/action_docs.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
