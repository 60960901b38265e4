from __future__ import annotations

from driftbot.cli.main import entry

entry()
