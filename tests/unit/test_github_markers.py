"""Markers, the carried migration, the checkbox and the command: pure parts of comments.py and commands.py."""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

from driftbot.github.commands import (
    MAX_LINK,
    build_file_block,
    build_file_marker,
    command_id,
    commit_checkbox,
    create_file_link,
    extract_migration,
    is_ticked,
    safe_path,
)
from driftbot.github.comments import MARKER_PREFIX, find_markers, marker, read_marker

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
OTHER = "89e6c98d92887913cadf06b2adb97f26cde4849b"
PATH = "migrations/versions/0002_add_nickname.py"
CONTENT = "def upgrade():\n    op.execute(\"SELECT '```' AS ticks, '@team' AS who\")\n"


def test_marker_shape_and_validation() -> None:
    assert marker("default", SHA) == f"<!-- driftbot:comment v1 id=default sha={SHA} -->"
    assert marker("default", SHA).startswith(MARKER_PREFIX)
    for bad_id in ("", "has space", "-->", "a" * 65):
        with pytest.raises(ValueError):
            marker(bad_id, SHA)
    with pytest.raises(ValueError):
        marker("default", "main")


def test_read_marker_takes_the_line_outside_code_blocks() -> None:
    body = (
        f"report\n\n````\n{marker('default', OTHER)}\n```\nstill code\n````\n\n~~~\n{marker('default', OTHER)}\n~~~\n"
        f"inline {marker('default', OTHER)} is not a line of its own\n\n{marker('default', SHA)}"
    )
    assert [m.sha for m in find_markers(body)] == [SHA]
    found = read_marker(body)
    assert found is not None and (found.id, found.sha) == ("default", SHA)
    assert read_marker(body, "other") is None
    assert read_marker(f"```\n{marker('default', SHA)}") is None  # an unclosed fence runs to the end


def test_file_block_round_trip_with_backticks_inside() -> None:
    block = build_file_block(PATH, CONTENT)
    assert block.splitlines()[1] == "````python"  # longer than the ``` inside
    body = f"### driftbot\n\n<details>\n\n{block}\n\n</details>\n\n{marker('default', SHA)}"
    assert extract_migration(body) == (PATH, CONTENT)


def test_content_without_final_newline_round_trips() -> None:
    assert extract_migration(build_file_block(PATH, "x = 1")) == (PATH, "x = 1")


def test_tampered_content_is_refused() -> None:
    """The checksum covers the content; the path is checked by `safe_path` (below)."""
    block = build_file_block(PATH, CONTENT)
    assert extract_migration(block.replace("SELECT", "DROP TABLE users; SELECT")) is None
    digest = hashlib.sha256(CONTENT.encode()).hexdigest()
    assert extract_migration(block.replace(digest, "0" * 64)) is None


def test_path_must_stay_inside_the_repository() -> None:
    for path in ("../outside.py", "/etc/passwd", ".github/workflows/pwn.yml", "a/.git/hooks/x", "a//b.py", "a\\b.py"):
        assert not safe_path(path), path
        assert extract_migration(build_file_block(path, CONTENT)) is None, path
    assert safe_path(PATH) and safe_path("db/versions/2024_01_01_x.py")


def test_path_keeps_to_plain_characters() -> None:
    """Letters, digits, `.`, `_`, `-` and `/` only: a newline in a path would forge log lines (`::error::`)."""
    for path in (
        "migrations/versions/x\n::error::pwned.py",
        "with space/x.py",
        "a/b;c.py",
        "a/\u00fcber.py",
        "a/b\r.py",
        "a/b%0A.py",
        "a/$(id).py",
    ):
        assert not safe_path(path), path
        assert extract_migration(build_file_block(path, CONTENT)) is None, path
    assert "%0A" in build_file_marker("x\n.py", CONTENT)  # quoted in the marker, refused when read back


def test_markers_inside_code_blocks_and_ambiguity() -> None:
    block = build_file_block(PATH, CONTENT)
    quoted = f"`````\n{build_file_block('evil.py', 'x = 1')}\n`````"  # quoted text poses as a file marker
    assert extract_migration(f"{quoted}\n\n{block}") == (PATH, CONTENT)
    assert extract_migration(f"{block}\n\n{build_file_block('b.py', 'y = 2')}") is None  # two files: ambiguous
    assert extract_migration(build_file_marker(PATH, CONTENT) + "\n\nno fence") is None
    assert extract_migration(build_file_block(PATH, CONTENT)[:-4]) is None  # never closed


def test_checkbox_and_its_state() -> None:
    box = commit_checkbox("feature/`x`")
    assert box == "- [ ] Commit this migration to `` feature/`x` ``"
    assert not is_ticked(box) and is_ticked(commit_checkbox("main", checked=True))
    assert is_ticked("- [X] Commit this migration to `main`")
    assert not is_ticked("```\n- [x] Commit this migration to `main`\n```")
    assert not is_ticked("- [x] Something else")


def test_command_parsing() -> None:
    assert command_id("/driftbot commit") == ""
    assert command_id("\n  /driftbot   commit  \nthanks") == ""
    assert command_id("/driftbot commit backend") == "backend"
    assert command_id("please /driftbot commit") is None
    assert command_id("> /driftbot commit") is None
    assert command_id("/driftbot committed") is None


def test_create_file_link_is_prefilled_and_capped() -> None:
    link = create_file_link("https://github.com/mallory/shop", "feature/x", PATH, CONTENT)
    assert link is not None
    parsed = urllib.parse.urlsplit(link)
    assert parsed.path == "/mallory/shop/new/feature/x/migrations/versions"
    query = urllib.parse.parse_qs(parsed.query)
    assert query == {"filename": ["0002_add_nickname.py"], "value": [CONTENT]}
    assert create_file_link("https://github.com/o/r", "main", PATH, "x" * MAX_LINK) is None
