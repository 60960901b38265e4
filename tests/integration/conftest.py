"""Fixtures for the integration tests: the fake GitHub (tests/fakegithub/) over real HTTP."""

from __future__ import annotations

from fakegithub.pytest_plugin import fake_github

__all__ = ["fake_github"]
