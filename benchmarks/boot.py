"""How long until driftbot's scratch PostgreSQL answers its first query, per provider.

    .venv/bin/python benchmarks/boot.py                     # every provider available here, 7 runs each
    .venv/bin/python benchmarks/boot.py --repeat 11 --providers local,docker --docker-image local/postgres:15

Each run goes through `driftbot.postgres.start_server` as `driftbot check` does and measures
`ready` (entering the provider until `SELECT 1` returns on its admin URL), `scratch` (then
creating and dropping the run's two scratch databases) and `stop` (leaving the provider:
server stopped, directory or container removed). One unmeasured run per row comes first
(imports, and for the cached rows the initdb that fills the cache). Medians, with min-max.

The local provider is measured four ways, to show what each of its two speed-ups buys:
the data directory from `initdb` or copied from the cache (DRIFTBOT_PG_CACHE), and on a disk
or in RAM (DRIFTBOT_PG_WORKDIR). "initdb, disk" is how it booted before both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from driftbot.postgres import scratch_database, start_server
from driftbot.postgres.base import libpq_conninfo
from driftbot.postgres.container import engine_answers
from driftbot.postgres.embedded import embedded_binaries
from driftbot.postgres.local import RAM_DISK, find_binaries, local_server, workdir_parent
from driftbot.settings import Secret, Settings


@dataclass(frozen=True)
class Row:
    name: str
    settings: Settings
    env: dict[str, str]


@dataclass
class Times:
    ready: list[float]
    scratch: list[float]
    stop: list[float]


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def measure(row: Row, repeat: int) -> Times:
    times = Times([], [], [])
    with environment(row.env):
        for i in range(repeat + 1):
            started = time.perf_counter()
            manager = start_server(row.settings)
            server = manager.__enter__()
            try:
                with psycopg.connect(libpq_conninfo(server.admin_url)) as conn:
                    conn.execute("SELECT 1")
                ready = time.perf_counter()
                with scratch_database(server, "m"), scratch_database(server, "o"):
                    pass
                scratched = time.perf_counter()
            finally:
                left = time.perf_counter()
                manager.__exit__(None, None, None)
            if i:  # the first run warms up
                times.ready.append(ready - started)
                times.scratch.append(scratched - ready)
                times.stop.append(time.perf_counter() - left)
    return times


def rows(providers: list[str], docker_image: str, cache: str) -> list[Row]:
    out: list[Row] = []
    disk = tempfile.gettempdir()
    ram = str(RAM_DISK) if workdir_parent() == RAM_DISK else None
    base = {"DRIFTBOT_CACHE_DIR": cache}
    if "local" in providers and find_binaries() is not None:
        local = Settings(postgres="local")
        out.append(
            Row("local: initdb, disk (before)", local, {**base, "DRIFTBOT_PG_CACHE": "0", "DRIFTBOT_PG_WORKDIR": disk})
        )
        if ram:
            out.append(Row("local: initdb, RAM", local, {**base, "DRIFTBOT_PG_CACHE": "0", "DRIFTBOT_PG_WORKDIR": ram}))
        out.append(Row("local: cache, disk", local, {**base, "DRIFTBOT_PG_CACHE": "1", "DRIFTBOT_PG_WORKDIR": disk}))
        if ram:
            out.append(Row("local: cache, RAM (default)", local, {**base, "DRIFTBOT_PG_CACHE": "1"}))
    if "embedded" in providers and embedded_binaries() is not None:
        out.append(Row("embedded (default)", Settings(postgres="embedded"), {**base, "DRIFTBOT_PG_CACHE": "1"}))
    if "docker" in providers and engine_answers():
        out.append(Row(f"docker: {docker_image}", Settings(postgres="docker", postgres_image=docker_image), base))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--providers", default="local,embedded,docker,url")
    parser.add_argument("--docker-image", default=os.environ.get("DRIFTBOT_TEST_PG_IMAGE", "postgres:17"))
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    providers = args.providers.split(",")
    with tempfile.TemporaryDirectory(prefix="driftbot-boot-cache-") as cache:
        plan = rows(providers, args.docker_image, cache)
        results = [(row.name, measure(row, args.repeat)) for row in plan]
        if "url" in providers and find_binaries() is not None:
            # a server someone else runs: "ready" is connecting and asking its version
            with environment({"DRIFTBOT_CACHE_DIR": cache}), local_server() as server:
                url = server.admin_url.render_as_string(hide_password=False)
                row = Row("url (server already running)", Settings(postgres="url", database_url=Secret(url)), {})
                results.append((row.name, measure(row, args.repeat)))

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"boot times in seconds, median (min-max) of {args.repeat} runs; {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at the end",
        "",
        "| provider | ready (start to first query) | + 2 scratch databases | stop |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {cell(t.ready)} | {cell(t.scratch)} | {cell(t.stop)} |" for name, t in results]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
