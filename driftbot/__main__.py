from __future__ import annotations

from driftbot.cli import entry

entry()
