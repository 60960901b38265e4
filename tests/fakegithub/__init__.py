"""A fake GitHub over real HTTP for driftbot's tests (see README.md in this directory)."""

from __future__ import annotations

from fakegithub.server import BOT, FakeGitHub
from fakegithub.spec import validate_webhook

__all__ = ["BOT", "FakeGitHub", "validate_webhook"]
