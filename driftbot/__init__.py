"""driftbot: catch schema drift between SQLAlchemy models and Alembic migrations."""

from __future__ import annotations

__version__ = "0.1.0"
