"""pytest fixtures for the fake GitHub. Use them from a conftest:

from fakegithub.pytest_plugin import fake_github  # noqa: F401  (re-exported fixture)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakegithub.server import FakeGitHub


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started fake; the test fails at teardown if any exchange broke GitHub's REST description."""
    with FakeGitHub() as fake:
        yield fake
        violations = list(fake.violations)
    assert not violations, "the fake GitHub saw exchanges that break the REST description:\n" + "\n".join(violations)
