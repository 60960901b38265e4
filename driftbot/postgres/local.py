"""The `local` provider: a throwaway server from the machine's binaries, in a temp dir.

Booting is copying a cached initdb'd data directory (datadir.py) and starting `postgres`
with durability off. It listens on 127.0.0.1 only; the superuser gets a new random password
over the server's unix socket, whose directory only the server's account may enter.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` account.
The server is stopped and its directory removed on success, error, Ctrl-C and SIGTERM (the
CLI turns SIGTERM into an exception); `driftbot cleanup` removes what a killed run left.
"""

from __future__ import annotations

import functools
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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import DRIVER, Server
from driftbot.postgres.datadir import make_data_dir

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
WORKDIR_PREFIX = "driftbot-pg-"
OWNER_FILE = "driftbot.pid"  # the pid of the driftbot process that owns a work directory
UNPRIVILEGED_USERS = ("postgres", "nobody")
# A throwaway server: nothing needs to survive a crash, and nothing else connects to it.
THROWAWAY_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "checkpoint_timeout": "1d",
    "max_wal_size": "4GB",
    "autovacuum": "off",
    "jit": "off",
    "huge_pages": "off",
    "max_connections": "50",
    # large schemas create thousands of objects in one transaction (create_all, a single-transaction
    # upgrade): the default 64 runs out at ~1000 tables
    "max_locks_per_transaction": "256",
    "log_min_messages": "warning",
}
NO_SYSTEM_SEARCH_ENV = "DRIFTBOT_NO_SYSTEM_POSTGRES"  # "1": only DRIFTBOT_PG_BINDIR is considered
WORKDIR_ENV = "DRIFTBOT_PG_WORKDIR"  # where the server's directory goes (default: /dev/shm or the temp dir)
RAM_DISK = Path("/dev/shm")
RAM_DISK_MIN_FREE = 2 * 1024**3  # a container's /dev/shm is often 64 MB: too small for a schema


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    version_line: str  # `postgres --version`: "postgres (PostgreSQL) 15.18 (Debian ...)"

    @property
    def version(self) -> str:
        match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", self.version_line)
        return match.group(1) if match else "0"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def candidate_bindirs() -> list[Path]:
    """Directories that may hold initdb/postgres, most specific first."""
    dirs: list[Path] = []
    if env := os.environ.get("DRIFTBOT_PG_BINDIR"):
        dirs.append(Path(env))
    if os.environ.get(NO_SYSTEM_SEARCH_ENV, "").strip().lower() not in ("", "0", "no", "false", "off"):
        return [d for d in dirs if _has_server(d)]
    if pg_config := shutil.which("pg_config"):
        with suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=5)
            dirs.append(Path(out.stdout.strip()))
    dirs += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_dir_major, reverse=True)
    dirs += [
        Path("/usr/local/pgsql/bin"),
        *sorted((Path(p) for p in glob.glob("/opt/homebrew/opt/postgresql@*/bin")), key=_dir_major, reverse=True),
    ]
    if initdb := shutil.which("initdb"):
        dirs.append(Path(initdb).resolve().parent)
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        if _has_server(d) and d.resolve() not in seen:
            seen.add(d.resolve())
            unique.append(d)
    return unique


def _has_server(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "postgres").is_file()


def _dir_major(bindir: Path) -> int:
    match = re.search(r"(\d+)/bin$", str(bindir))
    return int(match.group(1)) if match else 0


@functools.cache
def binaries_in(bindir: Path) -> Binaries | None:
    try:
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return Binaries(bindir, out.stdout.strip()) if out.returncode == 0 else None


def available_binaries() -> list[Binaries]:
    return [b for d in candidate_bindirs() if (b := binaries_in(d)) is not None]


def find_binaries(major: int | None = None) -> Binaries | None:
    """The first binaries found (of major version `major` when given)."""
    return next((b for b in available_binaries() if major is None or b.major == major), None)


def workdir_parent() -> Path:
    """A RAM disk when there is one with room (writing a data directory to a busy disk is most of a
    boot: 1.7 s against 0.1 s here, measured in benchmarks/), else the temp directory."""
    if env := os.environ.get(WORKDIR_ENV):
        return Path(env)
    with suppress(OSError):
        stat = os.statvfs(RAM_DISK)
        if os.access(RAM_DISK, os.W_OK | os.X_OK) and stat.f_bavail * stat.f_frsize >= RAM_DISK_MIN_FREE:
            return RAM_DISK
    return Path(tempfile.gettempdir())


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
def local_server(
    bindir: Path | None = None,
    *,
    provider: str = "local",
    timeout: float = READY_TIMEOUT,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """A throwaway server; `settings` override THROWAWAY_SETTINGS (e.g. PostgreSQL's own defaults, in tests)."""
    binaries = binaries_in(bindir) if bindir is not None else find_binaries()
    if binaries is None:
        raise InfrastructureError(
            f"no usable PostgreSQL server binaries (initdb, postgres) found{f' in {bindir}' if bindir else ''}"
        )
    account = _run_as()
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=workdir_parent()))
    proc: subprocess.Popen[bytes] | None = None
    try:
        (workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        if account is not None:
            os.chown(workdir, account.pw_uid, account.pw_gid)
        os.chmod(workdir, 0o700)
        started = time.perf_counter()
        how = make_data_dir(binaries.bindir, binaries.version_line, workdir / "data", account, _child_env())
        prepared = time.perf_counter() - started
        proc, port = _start(binaries.bindir, workdir, account, {**THROWAWAY_SETTINGS, **(settings or {})})
        password = secrets.token_hex(16)
        version = _wait_ready(proc, workdir, port, password, timeout)
        url = URL.create(
            DRIVER, username="postgres", password=password, host="127.0.0.1", port=port, database="postgres"
        )
        log.debug(
            "data directory by %s in %.2fs; server up %.2fs later",
            how,
            prepared,
            time.perf_counter() - started - prepared,
        )
        log.debug("%s PostgreSQL %s ready on port %s (%s)", provider, version, port, workdir)
        yield Server(admin_url=url, provider=provider, version=version)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _child_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}


def _start(
    bindir: Path, workdir: Path, account: pwd.struct_passwd | None, server_settings: Mapping[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    settings = [arg for key, value in server_settings.items() for arg in ("-c", f"{key}={value}")]
    cmd = [str(bindir / "postgres"), "-D", str(workdir / "data"), "-p", str(port), "-k", str(workdir), *settings]
    logfile = open(workdir / "server.log", "wb")
    kwargs: dict[str, object] = {"env": _child_env()}
    if account is not None:
        os.chown(workdir / "server.log", account.pw_uid, account.pw_gid)
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    # A new session keeps a terminal's Ctrl-C away from the server: we stop it ourselves.
    proc = subprocess.Popen(
        cmd, stdout=logfile, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True, **kwargs
    )  # type: ignore[call-overload]
    logfile.close()
    return proc, port


def _wait_ready(proc: subprocess.Popen[bytes], workdir: Path, port: int, password: str, timeout: float) -> str:
    """Wait for the server, then give the superuser its password (local connections are trusted
    only on the unix socket, in a directory no other account can enter)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log_tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
            raise InfrastructureError(f"PostgreSQL exited while starting:\n{log_tail}")
        try:
            with psycopg.connect(
                host=str(workdir), port=port, user="postgres", dbname="postgres", connect_timeout=2, autocommit=True
            ) as conn:
                conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None
                return str(row[0]).split(" ")[0]
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise InfrastructureError(f"PostgreSQL did not accept connections within {timeout:g}s") from None
            time.sleep(0.01)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Immediate shutdown (nothing to keep); the process group is killed if it does not go in time."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
