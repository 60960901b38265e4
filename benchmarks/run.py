#!/usr/bin/env python
"""Benchmark driftbot against plain Alembic on generated projects (see benchmarks/README.md).

    .venv/bin/python benchmarks/run.py [--sizes 10/10,100/100,1000/300] [--repeat 3]

One throwaway PostgreSQL server (driftbot's own `local` provider) serves every measurement.
For each size N/M (N tables, M migrations; `N/MxR` repeats that size R times):

  (a) plain Alembic: `alembic upgrade head` on a fresh database, then `alembic check`
      (subprocesses of the venv's alembic, the ini's sqlalchemy.url pointed at that database);
  (b) `driftbot check --postgres url --format json` (a subprocess; the server's URL in
      DRIFTBOT_DATABASE_URL, i.e. --database-url), its wall time and the per-stage `timings`
      of its report; its exit code must be 0. A run over --timeout is killed with SIGABRT and
      its faulthandler dump says which stage and function it was in;
  (b') a diagnostic run of the same CLI with driftbot.runs.check.locate_sources stubbed out;
  (c) driftbot's compare step alone: read_catalog on a database built by the migrations and
      on one built by `create_all`, plus diff_catalogs, in this process; and the time to import
      the models module (all N mapped classes) in a fresh interpreter.

Medians are printed and written to benchmarks/results.md. Exit status: 0 when zero drift was
confirmed at every size (driftbot exit 0 and no in-process finding), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from driftbot.compare.catalog import read_catalog, read_catalogs
from driftbot.compare.diff import diff_catalogs
from driftbot.postgres import local as local_provider
from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.postgres.local import local_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import default_outdir, generate  # noqa: E402

BIN = Path(sys.executable).parent
STAGES = ("project", "postgres", "baseline", "migrate", "catalog", "models", "diff", "suggest")
STAGE_TITLES = {"catalog": "catalog (both)"}
DEFAULT_SIZES = "10/10,100/100,1000/300"
VERSION_TABLE = frozenset({("public", "alembic_version")})
BENCH_INI = "alembic.bench.ini"

IMPORT_MODELS = """\
import sys, time
sys.path.insert(0, ".")
import sqlalchemy.orm
started = time.perf_counter()
import models
sqlalchemy.orm.configure_mappers()
print(time.perf_counter() - started)
"""

NO_SOURCE_LOOKUP = """\
import sys
import driftbot.runs.check
driftbot.runs.check.locate_sources = lambda *args: {}
from driftbot.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

CREATE_ALL = """\
import os, sys
sys.path.insert(0, ".")
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from models import Base
engine = create_engine(os.environ["BENCH_DATABASE_URL"], poolclass=NullPool)
Base.metadata.create_all(engine)
engine.dispose()
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Size:
    tables: int
    migrations: int
    repeat: int

    @property
    def label(self) -> str:
        return f"{self.tables}/{self.migrations}"


def parse_sizes(text: str, repeat: int) -> list[Size]:
    sizes = []
    for item in text.split(","):
        item = item.strip()
        spec, _, times = item.partition("x")
        tables, _, migrations = spec.partition("/")
        try:
            sizes.append(Size(int(tables), int(migrations), int(times) if times else repeat))
        except ValueError:
            raise SystemExit(f"run.py: bad size {item!r}: expected N/M or N/MxR") from None
    return sizes


@dataclass
class DriftbotRuns:
    """Runs of one driftbot variant at one size."""

    wall: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)  # where each run that hit --timeout was
    timeout: float = 0.0

    def stage(self, name: str) -> float | None:
        values = [t[name] for t in self.stages if name in t]
        return statistics.median(values) if values else None

    @property
    def timed_out(self) -> bool:
        return bool(self.killed)

    @property
    def clean(self) -> bool:
        return bool(self.codes) and all(c == 0 for c in self.codes)


@dataclass
class Measurements:
    size: Size
    upgrade: list[float] = field(default_factory=list)
    check: list[float] = field(default_factory=list)
    check_codes: list[int] = field(default_factory=list)
    driftbot: DriftbotRuns = field(default_factory=DriftbotRuns)
    nosrc: DriftbotRuns = field(default_factory=DriftbotRuns)  # diagnostic: source lookup skipped
    catalog_m: list[float] = field(default_factory=list)
    catalog_o: list[float] = field(default_factory=list)
    diff: list[float] = field(default_factory=list)
    compare: list[float] = field(default_factory=list)
    compare_findings: int = 0
    import_models: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- databases


def create_database(server: Server, label: str) -> URL:
    name = f"bench_{secrets.token_hex(4)}_{label}"
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return server.admin_url.set(database=name)


def drop_database(server: Server, url: URL) -> None:
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(url.database))))


@contextmanager
def fresh_database(server: Server, label: str) -> Iterator[URL]:
    url = create_database(server, label)
    try:
        yield url
    finally:
        drop_database(server, url)


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- measurements


def timed_run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, proc


def write_bench_ini(project: Path, url: URL) -> Path:
    """A copy of the project's alembic.ini (same directory, so %(here)s holds) with the URL set."""
    lines = []
    for line in (project / "alembic.ini").read_text().splitlines():
        if line.startswith("sqlalchemy.url"):
            line = "sqlalchemy.url = " + url_text(url).replace("%", "%%")
        lines.append(line)
    ini = project / BENCH_INI
    ini.write_text("\n".join(lines) + "\n")
    return ini


def run_alembic(project: Path, url: URL, m: Measurements) -> None:
    """(a) `alembic upgrade head` on the fresh database `url`, then `alembic check`."""
    alembic = str(BIN / "alembic")
    ini = write_bench_ini(project, url)
    try:
        seconds, proc = timed_run([alembic, "-c", str(ini), "upgrade", "head"], project)
        if proc.returncode != 0:
            raise SystemExit(f"alembic upgrade head failed in {project}:\n{proc.stderr}")
        m.upgrade.append(seconds)
        seconds, proc = timed_run([alembic, "-c", str(ini), "check"], project)
    finally:
        ini.unlink(missing_ok=True)
    m.check.append(seconds)
    m.check_codes.append(proc.returncode)
    if proc.returncode != 0:
        m.problems.append(f"`alembic check` exited {proc.returncode}:\n{(proc.stdout + proc.stderr).strip()[-3000:]}")


def run_driftbot(
    server: Server, project: Path, m: Measurements, runs: DriftbotRuns, variant: str, timeout: float
) -> None:
    """(b) `driftbot check` as a subprocess against the shared server.

    variant "driftbot" is the installed console script; "nosrc" is the same CLI with
    driftbot.runs.check.locate_sources replaced by a no-op (a diagnostic, see README).
    A run that exceeds `timeout` gets SIGABRT; PYTHONFAULTHANDLER makes it print where it was.
    """
    args = ["check", str(project), "--postgres", "url", "--format", "json"]
    cmd = [str(BIN / "driftbot"), *args] if variant == "driftbot" else [sys.executable, "-c", NO_SOURCE_LOOKUP, *args]
    env = {
        **os.environ,
        "DRIFTBOT_DATABASE_URL": url_text(server.admin_url),  # not on the command line
        "PYTHONFAULTHANDLER": "1",
    }
    runs.timeout = timeout
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        stdout, stderr = proc.communicate()
        where = where_killed(stderr)
        runs.killed.append(where)
        m.problems.append(f"{variant}: killed after {timeout:.0f}s {where}\n{traceback_excerpt(stderr)}")
        drop_leftover_scratch_databases(server)
        return
    runs.wall.append(time.perf_counter() - started)
    runs.codes.append(proc.returncode)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        m.problems.append(
            f"{variant} exited {proc.returncode} without a JSON report:\n{(stdout + stderr).strip()[-3000:]}"
        )
        return
    runs.stages.append(report.get("timings", {}))
    if proc.returncode != 0:
        m.problems.append(
            f"{variant} exited {proc.returncode} (status {report.get('status')}):\n" + describe_report(report)
        )


FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def where_killed(stderr: str) -> str:
    """'in the diff stage, at driftbot/project/sources.py:57 locate_sources' from a faulthandler dump."""
    frames = [(f["file"], int(f["line"]), f["func"]) for f in FRAME.finditer(stderr)]  # innermost first
    ours = [f for f in frames if "/driftbot/" in f[0] and "site-packages" not in f[0]]
    stage = next(
        (stage_at(line) for file, line, func in ours if file.endswith("driftbot/runs/check.py") and func == "_check"),
        None,
    )
    parts = [f"in the {stage} stage" if stage else "in an unknown stage"]
    if ours:
        file, line, func = ours[0]
        parts.append(f"at driftbot/{file.split('/driftbot/', 1)[1]}:{line} {func}")
    if frames and frames[0] != (ours[0] if ours else None):
        file, line, func = frames[0]
        parts.append(f"(innermost: {Path(file).name}:{line} {func})")
    return ", ".join(parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


def stage_at(line: int) -> str | None:
    """The `run.stage("...")` block of driftbot/runs/check.py that holds `line`."""
    import driftbot.runs.check

    source = Path(driftbot.runs.check.__file__).read_text().splitlines()[:line]
    found = [re.search(r'run\.stage\("(\w+)"\)', text) for text in source]
    names = [f.group(1) for f in found if f]
    return names[-1] if names else None


def traceback_excerpt(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "most recent call first" in line), 0)
    return "\n".join(lines[start : start + 16])


def drop_leftover_scratch_databases(server: Server) -> None:
    """A killed driftbot leaves its two scratch databases on our throwaway server."""
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        names = [
            r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'driftbot\\_%'").fetchall()
        ]
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def describe_report(report: dict[str, object]) -> str:
    lines = []
    error = report.get("error")
    if isinstance(error, dict):
        lines.append(f"  error in stage {error.get('stage')}: {error.get('message')}")
    findings = report.get("findings") or []
    assert isinstance(findings, list)
    for f in findings[:50]:
        lines.append(
            f"  {f['severity']:4} {f['kind']} {f['object']}\n"
            f"       migrations: {f['migrations']}\n       models:     {f['models']}"
        )
    if len(findings) > 50:
        lines.append(f"  ... and {len(findings) - 50} more findings")
    return "\n".join(lines)


def run_compare(server: Server, project: Path, m_url: URL, m: Measurements) -> None:
    """(c) read both catalogs + diff in process, on a migrated and a create_all database."""
    with fresh_database(server, "models") as o_url:
        env = {**os.environ, "BENCH_DATABASE_URL": url_text(o_url)}
        proc = subprocess.run([sys.executable, "-c", CREATE_ALL], cwd=project, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"create_all failed in {project}:\n{proc.stderr}")
        m_engine = create_engine(m_url, poolclass=NullPool)
        o_engine = create_engine(o_url, poolclass=NullPool)
        try:
            for _ in range(m.size.repeat):
                # A fresh connection each time, as driftbot uses: a new backend, cold caches.
                t0 = time.perf_counter()
                with m_engine.connect() as conn:
                    m_catalog = read_catalog(conn, exclude=VERSION_TABLE)
                t1 = time.perf_counter()
                with o_engine.connect() as conn:
                    o_catalog = read_catalog(conn)
                t2 = time.perf_counter()
                findings = diff_catalogs(m_catalog, o_catalog)
                t3 = time.perf_counter()
                m.catalog_m.append(t1 - t0)
                m.catalog_o.append(t2 - t1)
                m.diff.append(t3 - t2)
                # the compare step as the engine runs it: both catalogs read at once, then the diff
                t4 = time.perf_counter()
                m_catalog, o_catalog = read_catalogs((m_engine, VERSION_TABLE), (o_engine, frozenset()))
                findings = diff_catalogs(m_catalog, o_catalog)
                m.compare.append(time.perf_counter() - t4)
                m.compare_findings = len(findings)
            if len(m_catalog.tables) != m.size.tables or len(o_catalog.tables) != m.size.tables:
                m.problems.append(
                    f"expected {m.size.tables} tables, the catalogs hold "
                    f"{len(m_catalog.tables)} (migrations) and {len(o_catalog.tables)} (models)"
                )
            if findings:
                m.problems.append(
                    f"diff_catalogs found {len(findings)} differences in process:\n"
                    + "\n".join(f"  {f.kind} {f.object}: {f.migrations!r} vs {f.models!r}" for f in findings[:50])
                )
        finally:
            m_engine.dispose()
            o_engine.dispose()


def run_import(project: Path, m: Measurements) -> None:
    for _ in range(m.size.repeat):
        proc = subprocess.run([sys.executable, "-c", IMPORT_MODELS], cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"importing models failed in {project}:\n{proc.stderr}")
        m.import_models.append(float(proc.stdout.strip().splitlines()[-1]))


def bench_size(server: Server, size: Size, timeout: float) -> Measurements:
    m = Measurements(size)
    log(f"== {size.label}: generating the project")
    project = generate(size.tables, size.migrations, default_outdir(size.tables, size.migrations))
    # Compile once up front so that no measured run pays for writing the .pyc files.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(project)], check=True)
    migrated: URL | None = None  # the first run's migrated database, reused by (c)
    try:
        for i in range(size.repeat):
            run = f"{size.label}: run {i + 1}/{size.repeat}"
            log(f"== {run}: alembic upgrade head + alembic check")
            url = create_database(server, "alembic")
            try:
                run_alembic(project, url, m)
            finally:
                if migrated is None:
                    migrated = url
                else:
                    drop_database(server, url)
            log(f"   upgrade {m.upgrade[-1]:.2f}s, check {m.check[-1]:.2f}s (exit {m.check_codes[-1]})")
            for variant, runs in (("driftbot", m.driftbot), ("nosrc", m.nosrc)):
                if runs.timed_out:
                    log(f"== {run}: {variant}: skipped (an earlier run hit --timeout)")
                    continue
                log(f"== {run}: {variant} check")
                run_driftbot(server, project, m, runs, variant, timeout)
                if runs.timed_out:
                    log(f"   killed after {timeout:.0f}s {runs.killed[-1]}")
                else:
                    stages = runs.stages[-1] if runs.stages else {}
                    log(f"   {runs.wall[-1]:.2f}s wall, exit {runs.codes[-1]}, stages {stages}")
        assert migrated is not None
        log(f"== {size.label}: compare step alone (x{size.repeat}) and model import (x{size.repeat})")
        run_compare(server, project, migrated, m)
    finally:
        if migrated is not None:
            drop_database(server, migrated)
    run_import(project, m)
    log(f"   compare {statistics.median(m.compare):.3f}s, import {statistics.median(m.import_models):.3f}s")
    for problem in m.problems:
        log(f"!! {size.label}: {problem}")
    return m


# --------------------------------------------------------------------------- report


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def wall_cell(runs: DriftbotRuns) -> tuple[str, float | None]:
    """The median wall time as text, and as a number for ratios ('> T' when killed)."""
    if runs.timed_out:
        return f"> {runs.timeout:.0f} (killed)", None
    return fmt(med(runs.wall)), med(runs.wall)


def machine() -> tuple[str, str, list[str]]:
    cpuinfo = Path("/proc/cpuinfo")
    cpu = platform.processor()
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlalchemy, alembic, psycopg; "
            "print(sqlalchemy.__version__, alembic.__version__, psycopg.__version__)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    return nproc, cpu, versions + ["?"] * (3 - len(versions))


RAISED_SETTINGS: dict[str, str] = {}  # setting -> driftbot's own value, for those run.py raised


def server_settings() -> str:
    shown = ("fsync", "synchronous_commit", "max_connections", "max_locks_per_transaction")
    parts = []
    for key, value in local_provider.THROWAWAY_SETTINGS.items():
        if key in shown:
            raised = RAISED_SETTINGS.get(key)
            parts.append(f"{key}={value}" + (f" (raised by run.py; driftbot's: {raised})" if raised else ""))
    if "max_locks_per_transaction" not in local_provider.THROWAWAY_SETTINGS:
        parts.append("max_locks_per_transaction=64 (default)")
    return ", ".join(parts)


def driftbot_revision() -> tuple[str, str]:
    """(git HEAD + whether driftbot/ has uncommitted changes, a hash of driftbot's sources)."""
    import hashlib

    import driftbot

    package = Path(driftbot.__file__).parent
    digest = hashlib.sha1()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=package.parent, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("log", "-1", "--format=%h %s")[:90] or "unknown"
    dirty = git("status", "--porcelain", "--", str(package))
    return head + (" + uncommitted changes in driftbot/" if dirty else ""), digest.hexdigest()[:12]


def render(
    results: list[Measurements],
    server: Server,
    started: datetime,
    elapsed: float,
    revisions: tuple[tuple[str, str], tuple[str, str]],
    load: tuple[float, float],
) -> str:
    nproc, cpu, (sa_version, alembic_version, psycopg_version) = machine()
    seen = {name for m in results for runs in (m.driftbot, m.nosrc) for t in runs.stages for name in t}
    optional = {"baseline", "suggest"}  # stages a clean run without --baseline never has
    stages = [s for s in STAGES if s in seen or s not in optional]
    stages += [*sorted(seen - set(stages) - {"total"}), "total"]
    out = [
        "# driftbot benchmark results",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M %Z')} (whole run: {elapsed:.0f}s)",
        f"- machine: `nproc` = {nproc}, {cpu}, {platform.system()} {platform.release()}",
        f"- PostgreSQL {server.version}, one server started by driftbot's `local` provider "
        f"({server_settings()}), "
        f"Python {platform.python_version()}, SQLAlchemy {sa_version}, Alembic {alembic_version}, "
        f"psycopg {psycopg_version}",
        "- sizes: N tables / M migrations (benchmarks/generate.py); times are medians, in seconds, "
        "over the number of runs shown",
        f"- driftbot: {revisions[0][0]} (sources {revisions[0][1]})"
        + (
            ""
            if revisions[0] == revisions[1]
            else f"; **driftbot changed during the run**, at the end: {revisions[1][0]} (sources "
            f"{revisions[1][1]}): sizes measured at different times may differ in code"
        ),
        f"- load average (1 min) at the start / end: {load[0]:.2f} / {load[1]:.2f}",
        f"- command: `{' '.join(['.venv/bin/python', 'benchmarks/run.py', *sys.argv[1:]])}`",
        "",
        "## driftbot check vs plain Alembic",
        "",
        "| N/M | runs | alembic upgrade head | alembic check | upgrade + check | driftbot check (wall) "
        "| driftbot / (upgrade + check) | compare step | compare step / `alembic check` "
        "| import models | zero drift |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in results:
        up, ck = med(m.upgrade), med(m.check)
        both = up + ck if up is not None and ck is not None else None
        wall_text, wall = wall_cell(m.driftbot)
        ratio_text = ratio(wall, both) if wall is not None else f"> {m.driftbot.timeout / both:.0f}x" if both else "-"
        out.append(
            f"| {m.size.label} | {m.size.repeat} | {fmt(up)} | {fmt(ck)} | {fmt(both)} | "
            f"{wall_text} | {ratio_text} | {fmt(med(m.compare))} | {ratio(med(m.compare), ck)} | "
            f"{fmt(med(m.import_models))} | {verdict(m)} |"
        )
    out += [
        "",
        "## driftbot check, per stage (`timings` of its JSON report)",
        "",
        "*source lookup skipped* is a diagnostic run of the same CLI with "
        "`driftbot.runs.check.locate_sources` replaced by a no-op (findings then carry no model "
        "file/line), to show what the rest of the run costs; it is not what users run.",
        "",
        "| N/M | variant | " + " | ".join(STAGE_TITLES.get(s, s) for s in stages) + " | wall | wall - total |",
        "|---|---|" + "---:|" * (len(stages) + 2),
    ]
    for m in results:
        for name, runs in (("driftbot check", m.driftbot), ("source lookup skipped", m.nosrc)):
            if runs.timed_out and not runs.stages:
                out.append(
                    f"| {m.size.label} | {name} | killed after {runs.timeout:.0f}s "
                    f"{runs.killed[0]} |" + " |" * (len(stages) + 1)
                )
                continue
            total, wall = runs.stage("total"), med(runs.wall)
            out.append(
                f"| {m.size.label} | {name} | "
                + " | ".join(fmt(runs.stage(s)) for s in stages)
                + f" | {fmt(wall)} | {fmt(wall - total) if total is not None and wall else '-'} |"
            )
    out += [
        "",
        "## Compare step alone (in process, fresh connections)",
        "",
        "| N/M | read_catalog (migrations db) | read_catalog (models db) | diff_catalogs | compare step (concurrent reads + diff) "
        "| findings |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        out.append(
            f"| {m.size.label} | {fmt(med(m.catalog_m))} | {fmt(med(m.catalog_o))} | "
            f"{fmt(med(m.diff))} | {fmt(med(m.compare))} | {m.compare_findings} |"
        )
    out += [
        "",
        "Notes: *upgrade + check* and *driftbot check (wall)* are wall-clock times of subprocesses "
        "(interpreter start and imports included), so their ratio compares like with like. "
        "*compare step* is read_catalogs (both databases at once, as the engine does) + diff_catalogs in this process "
        "(the per-database columns are sequential reads, for reference), while "
        "*alembic check* includes its interpreter start, loading the revision scripts and "
        "importing the models. *import models* is `import models` + `configure_mappers()` in a "
        "fresh interpreter with SQLAlchemy already imported. *wall - total* is driftbot's "
        "interpreter start, imports, report rendering and interpreter shutdown (which grows with "
        "the number of mapped classes). A run killed at `--timeout` got "
        "SIGABRT; its faulthandler dump says where it was (see Problems).",
    ]
    problems = [(m.size.label, p) for m in results for p in m.problems]
    if problems:
        out += ["", "## Problems", ""]
        for label, p in problems:
            out += [f"### {label}", "", "```", p, "```", ""]
    return "\n".join(out) + "\n"


def verdict(m: Measurements) -> str:
    """Zero drift: driftbot exit 0 (or, when it was killed, the diagnostic run) and no in-process finding."""
    if m.driftbot.timed_out:
        witness = "source-lookup-skipped run" if m.nosrc.clean else None
        ok = witness is not None and m.compare_findings == 0
        text = f"yes (by the {witness} and the compare step)" if ok else "**NOT VERIFIED**"
    else:
        ok = m.driftbot.clean and m.compare_findings == 0
        text = "yes" if ok else "**NO**"
    if any(code != 0 for code in m.check_codes):
        text += " (`alembic check` NOT clean)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated N/M or N/MxR (R: repeats for that size); default {DEFAULT_SIZES}",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument(
        "--timeout", type=float, default=180, help="seconds after which a driftbot run is killed (default 180)"
    )
    parser.add_argument(
        "--max-locks-per-transaction",
        type=int,
        default=256,
        metavar="N",
        help="raise the local provider's setting to at least N (default 256; 0 keeps "
        "driftbot's own; with 64, 1000 tables in one transaction fail: see README)",
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "results.md", help="Markdown results file (default benchmarks/results.md)"
    )
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes, args.repeat)
    for tool in ("alembic", "driftbot"):
        if not (BIN / tool).is_file():
            raise SystemExit(
                f"run.py: {BIN / tool} not found: run with the venv's python (.venv/bin/python benchmarks/run.py)"
            )
    own = local_provider.THROWAWAY_SETTINGS.get("max_locks_per_transaction")
    if args.max_locks_per_transaction and int(own or 64) < args.max_locks_per_transaction:
        local_provider.THROWAWAY_SETTINGS["max_locks_per_transaction"] = str(args.max_locks_per_transaction)
        RAISED_SETTINGS["max_locks_per_transaction"] = own or "64 (PostgreSQL's default)"
    before = driftbot_revision()
    started_at = datetime.now().astimezone()
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    results = []
    with local_server() as server:
        log(f"PostgreSQL {server.version} on {server.admin_url.host}:{server.admin_url.port}")
        for size in sizes:
            results.append(bench_size(server, size, args.timeout))
        after = driftbot_revision()
        if after != before:
            log("!! driftbot's source changed during the run")
        text = render(
            results,
            server,
            started_at,
            time.perf_counter() - started,
            (before, after),
            (load_start, os.getloadavg()[0]),
        )
    print(text)
    args.output.write_text(text)
    log(f"wrote {args.output}")
    verified = all(verdict(m).startswith("yes") for m in results)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
