"""`driftbot cleanup`: remove the servers a killed run (SIGKILL, a crash, a lost machine) left behind.

Runs clean up after themselves; this is for what they could not: containers labelled
`driftbot=1` and local work directories `driftbot-pg-*` (whose server is stopped first).
Whatever belongs to a driftbot process that is still running on this machine is kept,
unless `--all`. `--cache` also empties the cache of initdb'd data directories.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from driftbot.errors import EXIT_CLEAN, EXIT_INFRA, InfrastructureError
from driftbot.postgres.container import LABEL, connect
from driftbot.postgres.datadir import cache_root
from driftbot.postgres.local import OWNER_FILE, RAM_DISK, WORKDIR_ENV, WORKDIR_PREFIX

log = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to another user
        return True
    return True


def _in_use(pid: int | None, same_host: bool) -> bool:
    return pid is not None and same_host and pid != os.getpid() and pid_alive(pid)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    cleanup = sub.add_parser("cleanup", help="remove scratch servers that killed driftbot runs left behind "
                                             "(containers labelled driftbot=1, local work directories)")
    cleanup.add_argument("--all", action="store_true", dest="remove_all",
                         help="also what belongs to driftbot runs still going on this machine")
    cleanup.add_argument("--cache", action="store_true", help="also empty the cache of initdb'd data directories")
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    cleanup.add_argument("--debug", action="store_true", help="log everything, show tracebacks")
    cleanup.set_defaults(handler=run_cleanup)


def run_cleanup(args: argparse.Namespace) -> int:
    removed = kept = 0
    failed = False
    for clean in (_containers, _directories):
        try:
            r, k = clean(args.remove_all, args.dry_run)
        except InfrastructureError as exc:
            print(f"driftbot: {exc.message}", file=sys.stderr)
            failed = failed or clean is _directories
            continue
        removed, kept = removed + r, kept + k
    if args.cache and not args.dry_run:
        shutil.rmtree(cache_root() / "pgdata", ignore_errors=True)
        print(f"emptied {cache_root() / 'pgdata'}")
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {removed}, kept {kept} in use")
    return EXIT_INFRA if failed else EXIT_CLEAN


def _containers(remove_all: bool, dry_run: bool) -> tuple[int, int]:
    try:
        client = connect(timeout=10)
    except InfrastructureError as exc:
        log.debug("cleanup: %s", exc.message)
        print("docker: no engine answers; no containers to look at")
        return 0, 0
    removed = kept = 0
    try:
        for container in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
            labels = container.labels
            pid = int(labels[f"{LABEL}.pid"]) if labels.get(f"{LABEL}.pid", "").isdigit() else None
            same_host = labels.get(f"{LABEL}.host") == socket.gethostname()
            created = labels.get(f"{LABEL}.created", "?")
            if not remove_all and _in_use(pid, same_host):
                print(f"kept container {container.name}: driftbot process {pid} is still running")
                kept += 1
                continue
            if not dry_run:
                container.remove(force=True, v=True)
            print(f"{'would remove' if dry_run else 'removed'} container {container.name} (created {created})")
            removed += 1
    finally:
        client.close()
    return removed, kept


def work_directories() -> list[Path]:
    parents = {Path(os.environ[WORKDIR_ENV])} if os.environ.get(WORKDIR_ENV) else set()
    parents |= {RAM_DISK, Path(tempfile.gettempdir())}
    return sorted(d for parent in parents if parent.is_dir() for d in parent.glob(f"{WORKDIR_PREFIX}*") if d.is_dir())


def _directories(remove_all: bool, dry_run: bool) -> tuple[int, int]:
    removed = kept = 0
    for workdir in work_directories():
        owner = None
        with suppress(OSError, ValueError):
            owner = int((workdir / OWNER_FILE).read_text().strip())
        if not remove_all and (owner is None or _in_use(owner, True)):
            # no owner file: a run still starting (or not ours); leave it
            print(f"kept {workdir}: " + (f"driftbot process {owner} is still running" if owner else "no owner recorded"))
            kept += 1
            continue
        if not dry_run:
            _stop_server(workdir / "data")
            shutil.rmtree(workdir, ignore_errors=True)
            if workdir.exists():
                raise InfrastructureError(f"could not remove {workdir}")
        print(f"{'would remove' if dry_run else 'removed'} {workdir}" + (f" (driftbot process {owner} is gone)" if owner else ""))
        removed += 1
    return removed, kept


def _stop_server(data: Path) -> None:
    """Stop the postmaster of `data` if it still runs (immediate shutdown: nothing to keep)."""
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and str(data) not in cmdline.read_text(errors="replace"):
        return  # the pid was reused by something else
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
