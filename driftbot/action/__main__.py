"""`python -m driftbot.action`: the action outside its container (the Dockerfile runs entrypoint.py)."""

from __future__ import annotations

import sys

from driftbot.action.main import main

sys.exit(main())
