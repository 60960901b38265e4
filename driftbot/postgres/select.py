"""`--postgres auto|local|url`: pick a provider and start it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from driftbot.errors import ConfigError, InfrastructureError
from driftbot.postgres.base import Server
from driftbot.postgres.local import find_bindir, local_server
from driftbot.postgres.url import url_server
from driftbot.settings import Settings

HOW_TO_GET_ONE = """\
driftbot needs a PostgreSQL server to build the two scratch databases. Any one of:
  1. install the server binaries (Debian/Ubuntu: apt install postgresql;
     macOS: brew install postgresql) and use --postgres local
  2. run one in Docker (docker run -d -p 5432:5432 -e POSTGRES_PASSWORD=pw postgres:16) and pass
     --postgres url --database-url postgresql://postgres:pw@127.0.0.1:5432/postgres
  3. point --database-url at any server where you may CREATE DATABASE
     (only driftbot's own scratch databases are created and dropped there)"""


@contextmanager
def start_server(settings: Settings) -> Iterator[Server]:
    kind = settings.postgres
    if kind == "url" or (kind == "auto" and settings.database_url is not None):
        if settings.database_url is None:
            raise ConfigError("--postgres url needs --database-url")
        with url_server(settings.database_url.value) as server:
            yield server
        return
    bindir = find_bindir()
    if bindir is None:
        raise InfrastructureError("no PostgreSQL server is available", hint=HOW_TO_GET_ONE)
    with local_server(bindir) as server:
        yield server
