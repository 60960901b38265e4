"""Golden files for the rendered comment and job summary: `pytest tests/golden --update-golden` rewrites them.

Each scenario directory holds `report.json` (the input, checked against the report schema
like an artifact), an optional `context.json` (CommentContext fields that differ from the
tests' defaults), and the expected `comment.md` and `summary.md`. Review changes to them
like code.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*/comment.md and summary.md from the current templates",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    try:
        flag = bool(request.config.getoption("--update-golden"))
    except ValueError:  # this conftest was not loaded early enough to add the option (another rootdir)
        flag = False
    return flag or os.environ.get("DRIFTBOT_UPDATE_GOLDEN") == "1"
