"""The `url` provider: a server the user runs; driftbot only creates and drops its own databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from driftbot.errors import ConfigError
from driftbot.postgres.base import DRIVER, Server, server_version


@contextmanager
def url_server(database_url: str) -> Iterator[Server]:
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(
            "--database-url is not a valid database URL", hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from exc
    if not url.drivername.startswith("postgresql"):
        raise ConfigError(f"--database-url must point at PostgreSQL, not {url.drivername!r}")
    url = url.set(drivername=DRIVER, database=url.database or "postgres")
    yield Server(admin_url=url, provider="url", version=server_version(url))
