"""The snapshot key's "does this revision import the project?" check: the quick word filter in front
of the parse answers exactly what the parse alone answers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from driftbot.runs.snapshots import imports_project_code, project_mentions

SOURCES = [
    b"import sqlalchemy as sa\nfrom alembic import op\n",
    b'"""add the models table"""\nimport sqlalchemy as sa\n',  # named in a docstring only: no import
    b"def upgrade():\n    from app.models import User\n",
    b"import app\n",
    b"import sqlalchemy, helpers\n",
    b"from . import helpers\n",
    b"from ..util import x\n",  # relative: the versions directory's own package
    b"from \\\n  .util import x\n",
    b"from App.models import User\n",  # a case-insensitive file system finds app/
    b"import application\n",  # another word: not the project's `app`
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "migrations").mkdir()
    return tmp_path


def parsed_only(source: bytes, root: Path) -> bool:
    """What the check answers without the word filter: every file parsed."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            return True
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if any((root / n.split(".")[0]).is_dir() or (root / f"{n.split('.')[0]}.py").is_file() for n in names):
            return True
    return False


@pytest.mark.parametrize("source", SOURCES)
def test_the_word_filter_answers_what_the_parse_answers(source: bytes, root: Path) -> None:
    mentions = project_mentions(root)
    assert imports_project_code(source, root, mentions) == parsed_only(source, root)


def test_a_file_that_names_no_module_of_the_project_is_not_parsed(root: Path) -> None:
    mentions = project_mentions(root)
    # not Python at all, but it cannot import the project: nothing to parse (its bytes are in the key anyway)
    assert not imports_project_code(b"def (:\n  import sqlalchemy\n", root, mentions)
    assert imports_project_code(b"def (:\n  import helpers\n", root, mentions)  # a parse error: never trusted


def test_a_project_module_with_a_non_ascii_name_parses_every_file(tmp_path: Path) -> None:
    (tmp_path / "modèles.py").write_text("")
    assert imports_project_code("import modèles\n".encode(), tmp_path, project_mentions(tmp_path))
