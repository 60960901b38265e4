"""Scratch PostgreSQL servers (DESIGN.md §1): every provider yields a Server and cleans up."""

from __future__ import annotations

from driftbot.postgres.base import Server, scratch_database
from driftbot.postgres.select import start_server

__all__ = ["Server", "scratch_database", "start_server"]
