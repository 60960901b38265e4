"""`driftbot cleanup`: remove the servers a killed run (SIGKILL, a crash, a lost machine) left behind.

Runs clean up after themselves; this is for what they could not: containers labelled
`driftbot=1` and local work directories `driftbot-pg-*` (whose server is stopped first).
Whatever belongs to a driftbot process that is still running on this machine is kept,
unless `--all`. `--cache` also empties the cache of initdb'd data directories.

A server that is removed takes its roles with it. On a server that is kept (its run goes on), the
`driftbot_*` scratch roles that another, killed run made (`detect --fix` works as one) are dropped,
with the scratch databases they own: each such role names its process in its comment
(base.ROLE_COMMENT). Only servers driftbot started are looked at, never a `--database-url` server.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from driftbot.errors import EXIT_CLEAN, EXIT_INFRA, InfrastructureError
from driftbot.postgres.base import ROLE_COMMENT, ROLE_PREFIX, first_line
from driftbot.postgres.container import LABEL, connect
from driftbot.postgres.datadir import cache_root
from driftbot.postgres.local import OWNER_FILE, RAM_DISK, WORKDIR_ENV, WORKDIR_PREFIX
from driftbot.safety.sqlnames import quote_ident

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
    cleanup = sub.add_parser(
        "cleanup",
        help="remove scratch servers that killed driftbot runs left behind "
        "(containers labelled driftbot=1, local work directories)",
    )
    cleanup.add_argument(
        "--all",
        action="store_true",
        dest="remove_all",
        help="also what belongs to driftbot runs still going on this machine",
    )
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
                _orphan_roles_of(f"container {container.name}", partial(container_conninfo, container), dry_run)
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
            print(
                f"kept {workdir}: " + (f"driftbot process {owner} is still running" if owner else "no owner recorded")
            )
            kept += 1
            if owner is not None:
                _orphan_roles_of(str(workdir), partial(local_conninfo, workdir), dry_run)
            continue
        if not dry_run:
            _stop_server(workdir / "data")
            shutil.rmtree(workdir, ignore_errors=True)
            if workdir.exists():
                raise InfrastructureError(f"could not remove {workdir}")
        print(
            f"{'would remove' if dry_run else 'removed'} {workdir}"
            + (f" (driftbot process {owner} is gone)" if owner else "")
        )
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


# --- scratch roles of killed runs, on servers that are kept -------------------------------------

_OWNER = re.compile(re.escape(ROLE_COMMENT).replace(r"\{pid\}", r"(?P<pid>\d+)").replace(r"\{host\}", r"(?P<host>.+)"))


def local_conninfo(workdir: Path) -> str:
    """A kept local server, over its unix socket in `workdir` (trusted there; only its account, or root, enters)."""
    port = int((workdir / "data" / "postmaster.pid").read_text().splitlines()[3])
    return psycopg.conninfo.make_conninfo(
        host=str(workdir), port=port, user="postgres", dbname="postgres", connect_timeout=5
    )


def container_conninfo(container: Any) -> str:
    """A kept container's server: its published port (or its address on its network), its own password."""
    container.reload()
    env = dict(e.split("=", 1) for e in container.attrs.get("Config", {}).get("Env") or [] if "=" in e)
    settings = container.attrs.get("NetworkSettings", {})
    bindings = (settings.get("Ports") or {}).get("5432/tcp") or []
    host, port = next((("127.0.0.1", int(b["HostPort"])) for b in bindings if b.get("HostPort")), (None, 5432))
    if host is None:
        host = next((n.get("IPAddress") for n in (settings.get("Networks") or {}).values() if n.get("IPAddress")), None)
    if host is None:
        raise InfrastructureError(f"container {container.name} has no address")
    return psycopg.conninfo.make_conninfo(
        host=host,
        port=port,
        user=env.get("POSTGRES_USER", "postgres"),
        password=env.get("POSTGRES_PASSWORD", ""),
        dbname="postgres",
        connect_timeout=5,
    )


def orphan_roles(conn: psycopg.Connection[Any]) -> list[str]:
    """The `driftbot_*` roles whose comment names a process of this machine that is gone."""
    rows = conn.execute(
        "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
        "WHERE starts_with(rolname, %s) ORDER BY rolname",
        (ROLE_PREFIX,),
    ).fetchall()
    found = []
    for name, comment in rows:
        owner = _OWNER.fullmatch(comment or "")  # no comment of ours: not a role driftbot made
        if owner and owner["host"] == socket.gethostname() and not pid_alive(int(owner["pid"])):
            found.append(str(name))
    return found


def drop_orphan_roles(conninfo: str, dry_run: bool) -> list[str]:
    """Drop each orphan role, after the scratch databases it owns; the roles (to be) dropped."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        roles = orphan_roles(conn)
        if dry_run:
            return roles
        for name in roles:
            owned = conn.execute(
                "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = %s", (name,)
            ).fetchall()
            for (database,) in owned:
                conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(str(database))} WITH (FORCE)")
            with suppress(psycopg.Error):  # granted on PostgreSQL 15+ only (base._grant_replica)
                conn.execute(f"REVOKE SET ON PARAMETER session_replication_role FROM {quote_ident(name)}")
            conn.execute(f"DROP ROLE IF EXISTS {quote_ident(name)}")
            log.debug("dropped scratch role %s of a killed run", name)
    return roles


def _orphan_roles_of(where: str, conninfo: Callable[[], str], dry_run: bool) -> None:
    """The kept server's orphan roles, one line each; a server that cannot be read is said so and left."""
    try:
        roles = drop_orphan_roles(conninfo(), dry_run)
    except (OSError, ValueError, IndexError, psycopg.Error, InfrastructureError) as exc:
        print(f"  its scratch roles were not looked at: {first_line(exc)}")
        return
    for name in roles:
        print(f"  {'would drop' if dry_run else 'dropped'} role {name} on {where} (its driftbot process is gone)")
