#!/usr/bin/env python
"""A pull request's check with the snapshot cache, side by side with a cold check and plain Alembic.

    .venv/bin/python benchmarks/incremental.py [--sizes 10/10,100/100,1000/300,1000/1000] [--repeat 3]

For each size N/M (benchmarks/generate.py: N tables, M migrations, no drift; `N/MxR` runs that
size R times), on one throwaway server of driftbot's own `local` provider:
  alembic   `alembic upgrade head` on a fresh database, then `alembic check` (subprocesses);
  cold      `driftbot check --no-cache` (what every run cost before the cache);
  warm      the project gains one revision (a new table, in the models too) and `driftbot check`
            runs on a cache that holds only main's head (what a PR finds from main's run): it
            restores that snapshot, runs the new revision and keeps a snapshot of the new head.
            The server outlives the runs, so main's head is copied from the database main's run
            kept on it (runs/snapshot_databases.py), and so is main's models' database, on which
            only the new model's statement runs (runs/models_copies.py);
  archive   the same with DRIFTBOT_SERVER_SNAPSHOTS=0: main's head restored from its archive with
            pg_restore and the models' database built from scratch, what a fresh server (a CI job's) costs.
Main's own run, which fills the cache, runs once per size before the warm runs (not timed).
Times are wall-clock medians of subprocesses (interpreter start and exit included), run without
PYTHONDONTWRITEBYTECODE as on a developer's machine: plain alembic's bytecode goes beside the project's
sources, driftbot's to its cache (the PR's first warm run compiles its changed models.py, later ones don't). The table
goes to benchmarks/incremental.md after each size, with the machine's load average then.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
TIMEOUT = 3600
PR_REVISION = "pr0000000001"
WARM_STAGES = ("restore", "migrate", "snapshot", "models", "catalog", "diff")

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

NEW_MODEL = """

class PrTable(Base):
    __tablename__ = "pr_table"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
"""


@dataclass
class Row:
    tables: int
    migrations: int
    runs: int
    alembic: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    archive: list[float] = field(default_factory=list)
    archive_restore: list[float] = field(default_factory=list)
    warm_stages: list[dict[str, float]] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))

    def stage(self, name: str) -> float:
        return statistics.median(s.get(name, 0.0) for s in self.warm_stages)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    # as on a developer's machine: bytecode is written (alembic's beside the sources, driftbot's in its cache)
    env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=TIMEOUT)
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
        lines = [
            f"sqlalchemy.url = {url.replace('%', '%%')}" if line.startswith("sqlalchemy.url") else line
            for line in text.splitlines()
        ]
        ini.write_text("\n".join(lines) + "\n")
        up, code = timed([str(BIN / "alembic"), "-c", str(ini), "upgrade", "head"], project, dict(os.environ))
        check, code2 = timed([str(BIN / "alembic"), "-c", str(ini), "check"], project, dict(os.environ))
        if code or code2:
            raise SystemExit(f"plain alembic failed on {project} ({code}, {code2})")
        return up + check
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def driftbot(server: Server, project: Path, cache: Path, *extra: str) -> tuple[float, dict[str, object]]:
    """One `driftbot check` (wall seconds, its JSON report); it must find no drift."""
    report = project.parent / f"{project.name}.report.json"
    env = {
        **os.environ,
        "DRIFTBOT_DATABASE_URL": server.admin_url.render_as_string(hide_password=False),
        "DRIFTBOT_SNAPSHOT_DIR": str(cache),
        "DRIFTBOT_CACHE_DIR": str(project.parent / "driftbot-cache"),  # the compiled modules: one per machine
    }
    seconds, code = timed(
        [
            str(BIN / "driftbot"),
            "check",
            str(project),
            "--postgres",
            "url",
            "--format",
            "json",
            "--output",
            str(report),
            *extra,
        ],
        project,
        env,
    )
    if code != 0:
        raise SystemExit(f"driftbot exited {code} on {project}")
    data: dict[str, object] = json.loads(report.read_text())
    return seconds, data


def add_pull_request_revision(project: Path) -> str:
    """The PR's revision and model; main's head, which it revises."""
    cfg = Config(str(project / "alembic.ini"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    versions = project / "migrations" / "versions"
    (versions / "9999_pr_table.py").write_text(NEW_REVISION.format(rev=PR_REVISION, down=head))
    models = project / "models.py"
    source = models.read_text()
    if "Text" not in source.split("class ", 1)[0]:
        source = "from sqlalchemy import Text\n" + source
    models.write_text(source + NEW_MODEL)
    return head


def warm_run(server: Server, project: Path, main_cache: Path, main_head: str, row: Row, archive: bool = False) -> None:
    cache = project.parent / "cache_pr"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(main_cache, cache)  # main's snapshot only: every warm run starts as the PR's first push
    if archive:
        os.environ["DRIFTBOT_SERVER_SNAPSHOTS"] = "0"
    try:
        seconds, report = driftbot(server, project, cache)
    finally:
        os.environ.pop("DRIFTBOT_SERVER_SNAPSHOTS", None)
    info = report.get("cache") or {}
    migrations = report.get("migrations") or {}
    applied = migrations.get("applied", []) if isinstance(migrations, dict) else []
    if not isinstance(info, dict) or info.get("restored") != main_head or len(applied) != 1:
        raise SystemExit(f"the warm run did not restore {main_head} and run one revision: {info}, {len(applied)} ran")
    copied = str(info.get("models", "")).startswith("copied a kept build")
    if copied == archive:
        raise SystemExit(f"the warm run {'did not copy' if not archive else 'copied'} main's models' database: {info}")
    timings = report.get("timings")
    stages = dict(timings) if isinstance(timings, dict) else {}
    if archive:
        row.archive.append(seconds)
        row.archive_restore.append(float(stages.get("restore", 0.0)))
        return
    row.warm.append(seconds)
    row.warm_stages.append(stages)


def bench(server: Server, tables: int, migrations: int, runs: int, work: Path) -> Row:
    project = work / f"n{tables}_m{migrations}"
    generate(tables, migrations, project)
    row = Row(tables, migrations, runs)
    empty = work / f"cache_{tables}_{migrations}_cold"
    for _ in range(runs):
        row.alembic.append(plain_alembic(server, project))
        row.cold.append(driftbot(server, project, empty, "--no-cache")[0])
        log(f"{tables}/{migrations}: alembic {row.alembic[-1]:.1f}s, cold {row.cold[-1]:.1f}s")
    main_cache = work / f"cache_{tables}_{migrations}_main"
    driftbot(server, project, main_cache)  # main's run: keeps the snapshot of its head
    main_head = add_pull_request_revision(project)
    for _ in range(runs):
        warm_run(server, project, main_cache, main_head, row)
        warm_run(server, project, main_cache, main_head, row, archive=True)
        log(f"{tables}/{migrations}: warm {row.warm[-1]:.1f}s, from the archive {row.archive[-1]:.1f}s")
    row.load = os.getloadavg()
    return row


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def write(rows: list[Row], started: datetime, load: tuple[float, float, float], path: Path) -> None:
    lines = [
        "# Incremental check: a pull request's new revision on a warm snapshot cache",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, shared with other work "
        f"(load average 1/5/15 min at the start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f})",
        "- command: `.venv/bin/python benchmarks/incremental.py " + " ".join(sys.argv[1:]) + "`",
        "- one PostgreSQL server of driftbot's `local` provider; wall-clock medians of subprocesses, in seconds",
        "",
        "| N/M | runs | alembic upgrade + check | driftbot cold | cold / alembic | driftbot warm, one new revision "
        "| warm / alembic | warm: restore / migrate / snapshot / models / catalog | warm from the archive (restore) "
        "| load average (1 min) after |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        alembic, cold, warm = r.median("alembic"), r.median("cold"), r.median("warm")
        stages = " / ".join(f"{r.stage(s):.2f}" for s in ("restore", "migrate", "snapshot", "models", "catalog"))
        lines.append(
            f"| {r.tables}/{r.migrations} | {r.runs} | {alembic:.1f} | {cold:.1f} | {cold / alembic:.2f}x "
            f"| {warm:.1f} | {warm / alembic:.2f}x | {stages} "
            f"| {r.median('archive'):.1f} ({r.median('archive_restore'):.2f}) | {r.load[0]:.2f} |"
        )
    lines += ["", "Per-run values (seconds):", ""]
    for r in rows:
        lines.append(
            f"- {r.tables}/{r.migrations}: alembic {_list(r.alembic)}; cold {_list(r.cold)}; "
            f"warm {_list(r.warm)}; from the archive {_list(r.archive)}"
        )
    path.write_text("\n".join(lines) + "\n")


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def parse_sizes(text: str, repeat: int) -> list[tuple[int, int, int]]:
    sizes = []
    for part in text.split(","):
        size, _, runs = part.partition("x")
        tables, migrations = (int(x) for x in size.split("/"))
        sizes.append((tables, migrations, int(runs) if runs else repeat))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10/10,100/100,1000/300,1000/1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "incremental.md")
    args = parser.parse_args(argv)
    started, load = datetime.now(UTC), os.getloadavg()
    rows: list[Row] = []
    with local_server() as server, tempfile.TemporaryDirectory() as tmp:
        for tables, migrations, runs in parse_sizes(args.sizes, args.repeat):
            rows.append(bench(server, tables, migrations, runs, Path(tmp)))
            write(rows, started, load, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
