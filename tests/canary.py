"""A database of the tests' own on a real server, standing for the user's real (or live) database."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

from driftbot.postgres.base import Server
from driftbot.runs.live import client_bindir


@dataclass(frozen=True)
class Database:
    url: str  # postgresql+psycopg://user:password@host:port/name
    server: Server

    @property
    def name(self) -> str:
        return str(make_url(self.url).database)

    @property
    def password(self) -> str:
        return str(make_url(self.url).password)

    def libpq(self) -> str:
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def dump(self) -> str:
        """Schema and data; the per-run \\restrict key is fixed so two dumps compare byte for byte."""
        parsed = make_url(self.url)
        pg_dump = client_bindir(self.server.major, self.server.major) / "pg_dump"
        cmd = [
            str(pg_dump),
            "--no-sync",
            "--restrict-key=canary",
            f"--dbname=host={parsed.host} port={parsed.port} user={parsed.username} dbname={parsed.database}",
        ]
        return subprocess.run(
            cmd, capture_output=True, text=True, check=True, timeout=60, env={**os.environ, "PGPASSWORD": self.password}
        ).stdout


def scratch_database_with(server: Server, prefix: str, *statements: str) -> Iterator[Database]:
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = server.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    db = Database(
        server.admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False),
        server,
    )
    with psycopg.connect(db.libpq(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
    yield db
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
