#!/usr/bin/env python
"""A pull request's check with the snapshot cache, side by side with a cold check and plain Alembic.

    .venv/bin/python benchmarks/incremental.py [--sizes 10/10,100/100,1000/300]

For each size N/M (benchmarks/generate.py: N tables, M migrations, no drift), on one throwaway
server of driftbot's own `local` provider:
  alembic   `alembic upgrade head` on a fresh database, then `alembic check` (subprocesses);
  cold      `driftbot check --no-cache`;
  warm      the project gains one revision (a new table, in the models too) and
            `driftbot check` runs on a cache that holds main's head: it restores that snapshot
            and runs only the new revision.
Writes benchmarks/incremental.md. One run per cell: a quiet machine gives steadier numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql

from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.postgres.local import local_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

BIN = Path(sys.executable).parent

NEW_REVISION = '''"""a pull request's new table

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("pr_table", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("note", sa.Text()))


def downgrade() -> None:
    op.drop_table("pr_table")
'''

NEW_MODEL = '''

class PrTable(Base):
    __tablename__ = "pr_table"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
'''


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    return time.perf_counter() - started, done.returncode


def plain_alembic(server: Server, project: Path) -> float:
    name = f"bench_plain_{os.getpid()}"
    admin = libpq_conninfo(server.admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = server.admin_url.set(database=name).render_as_string(hide_password=False)
        ini = project / "bench.ini"
        text = (project / "alembic.ini").read_text()
        lines = [f"sqlalchemy.url = {url.replace('%', '%%')}" if line.startswith("sqlalchemy.url") else line
                 for line in text.splitlines()]
        ini.write_text("\n".join(lines) + "\n")
        up, _ = timed([str(BIN / "alembic"), "-c", str(ini), "upgrade", "head"], project, dict(os.environ))
        check, _ = timed([str(BIN / "alembic"), "-c", str(ini), "check"], project, dict(os.environ))
        return up + check
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def driftbot(server: Server, project: Path, cache: Path, *extra: str) -> float:
    env = {**os.environ, "DRIFTBOT_DATABASE_URL": server.admin_url.render_as_string(hide_password=False),
           "DRIFTBOT_SNAPSHOT_DIR": str(cache)}
    seconds, code = timed([str(BIN / "driftbot"), "check", str(project), "--postgres", "url", *extra], project, env)
    if code != 0:
        raise SystemExit(f"driftbot exited {code} on {project}")
    return seconds


def add_pull_request_revision(project: Path) -> None:
    cfg = Config(str(project / "alembic.ini"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    versions = project / "migrations" / "versions"
    (versions / "9999_pr_table.py").write_text(NEW_REVISION.format(rev="pr0000000001", down=head))
    models = project / "models.py"
    source = models.read_text()
    if "Text" not in source.split("class ", 1)[0]:
        source = "from sqlalchemy import Text\n" + source
    models.write_text(source + NEW_MODEL)


def bench(server: Server, tables: int, migrations: int, work: Path) -> dict[str, float]:
    project = work / f"n{tables}_m{migrations}"
    generate(tables, migrations, project)
    cache = work / f"cache_{tables}_{migrations}"
    row = {"alembic": plain_alembic(server, project)}
    row["cold"] = driftbot(server, project, cache, "--no-cache", "--no-suggest")
    driftbot(server, project, cache, "--no-suggest")  # main's run: keeps the snapshot of its head
    add_pull_request_revision(project)
    row["warm"] = driftbot(server, project, cache, "--no-suggest")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10/10,100/100,1000/300")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("/")) for s in args.sizes.split(",")]
    rows = []
    with local_server() as server, tempfile.TemporaryDirectory() as tmp:
        for tables, migrations in sizes:
            row = bench(server, tables, migrations, Path(tmp))
            rows.append((tables, migrations, row))
            print(f"{tables}/{migrations}: " + ", ".join(f"{k} {v:.1f}s" for k, v in row.items()), flush=True)
    lines = [f"# Incremental check ({datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, one run per cell)", "",
             "| N/M | alembic upgrade + check | driftbot cold | driftbot, one new revision, warm cache | warm / alembic |",
             "|---|---|---|---|---|"]
    for tables, migrations, row in rows:
        lines.append(f"| {tables}/{migrations} | {row['alembic']:.1f} s | {row['cold']:.1f} s | {row['warm']:.1f} s "
                     f"| {row['warm'] / row['alembic']:.2f}x |")
    (HERE / "incremental.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
