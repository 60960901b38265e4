"""The `local` provider: initdb + postgres from the machine's binaries, in a temp dir.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` account.
The server is throwaway: durability is switched off, and it is stopped and its directory
removed on success, error, Ctrl-C and SIGTERM (the CLI turns SIGTERM into an exception).
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import DRIVER, Server, libpq_conninfo

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0
UNPRIVILEGED_USERS = ("postgres", "nobody")
THROWAWAY_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "log_min_messages": "warning",
}


def candidate_bindirs() -> list[Path]:
    """Directories that may hold initdb/postgres, most specific first."""
    dirs: list[Path] = []
    if env := os.environ.get("DRIFTBOT_PG_BINDIR"):
        dirs.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        with suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=5)
            dirs.append(Path(out.stdout.strip()))
    dirs += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_major, reverse=True)
    dirs += [Path("/usr/local/pgsql/bin")]
    if initdb := shutil.which("initdb"):
        dirs.append(Path(initdb).parent)
    return [d for d in dirs if (d / "initdb").is_file() and (d / "postgres").is_file()]


def _major(bindir: Path) -> int:
    match = re.search(r"/(\d+)/bin", str(bindir))
    return int(match.group(1)) if match else 0


def find_bindir() -> Path | None:
    found = candidate_bindirs()
    return found[0] if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The account to run the server as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with suppress(KeyError):
            return pwd.getpwnam(name)
    raise InfrastructureError(
        "running as root and no unprivileged account (postgres, nobody) exists to run PostgreSQL",
        hint="create a 'postgres' user, run driftbot as a normal user, or use --database-url",
    )


@contextmanager
def local_server(bindir: Path | None = None) -> Iterator[Server]:
    bindir = bindir or find_bindir()
    if bindir is None:
        raise InfrastructureError("no PostgreSQL server binaries (initdb, postgres) found")
    account = _run_as()
    workdir = Path(tempfile.mkdtemp(prefix="driftbot-pg-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        password = secrets.token_hex(16)
        (workdir / "pwfile").write_text(password + "\n")
        if account is not None:
            for path in (workdir, workdir / "pwfile"):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(workdir, 0o700)
        _initdb(bindir, workdir, account)
        proc, port = _start(bindir, workdir, account)
        url = URL.create(DRIVER, username="postgres", password=password,
                         host="127.0.0.1", port=port, database="postgres")
        version = _wait_ready(proc, url, workdir)
        log.debug("local PostgreSQL %s ready on port %s (%s)", version, port, workdir)
        yield Server(admin_url=url, provider="local", version=version)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _child_kwargs(account: pwd.struct_passwd | None) -> dict[str, object]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    if account is None:
        return {"env": env}
    return {"env": env, "user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initdb(bindir: Path, workdir: Path, account: pwd.struct_passwd | None) -> None:
    cmd = [str(bindir / "initdb"), "-D", str(workdir / "data"), "-U", "postgres",
           "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={workdir / 'pwfile'}",
           "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir,
                            **_child_kwargs(account))  # type: ignore[call-overload]
    if result.returncode != 0:
        raise InfrastructureError(f"initdb failed: {(result.stderr or result.stdout).strip()}")


def _start(bindir: Path, workdir: Path,
           account: pwd.struct_passwd | None) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    settings = [arg for key, value in THROWAWAY_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
    cmd = [str(bindir / "postgres"), "-D", str(workdir / "data"), "-p", str(port),
           "-k", str(workdir), *settings]
    logfile = open(workdir / "server.log", "wb")
    if account is not None:
        os.chown(workdir / "server.log", account.pw_uid, account.pw_gid)
    # A new session keeps a terminal's Ctrl-C away from the server: we stop it ourselves.
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, cwd=workdir,
                            start_new_session=True, **_child_kwargs(account))  # type: ignore[call-overload]
    logfile.close()
    return proc, port


def _wait_ready(proc: subprocess.Popen[bytes], url: URL, workdir: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    conninfo = libpq_conninfo(url)
    while True:
        if proc.poll() is not None:
            log_tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
            raise InfrastructureError(f"PostgreSQL exited while starting:\n{log_tail}")
        try:
            with psycopg.connect(conninfo, connect_timeout=2) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None
                return str(row[0]).split(" ")[0]
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"PostgreSQL did not accept connections within {READY_TIMEOUT:.0f}s") from None
            time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown; the process group is killed if it does not go in time."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
