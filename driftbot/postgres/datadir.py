"""A fresh PostgreSQL data directory: copied from a cached `initdb`, else made by `initdb`.

initdb is most of a local server's boot time and gives the same files every time for the
same binaries and options, so the first run keeps a copy (a template, never started as a
server) under the cache directory and later runs copy it. The template holds no password:
the running server gets a new random one over its private unix socket (see local.py).

Cache: `$DRIFTBOT_CACHE_DIR`, else `$XDG_CACHE_HOME/driftbot`, else `~/.cache/driftbot`;
`DRIFTBOT_PG_CACHE=0` switches it off (initdb on every run).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from driftbot.errors import InfrastructureError

log = logging.getLogger(__name__)

TEMPLATE_FORMAT = 1  # part of the cache key: change it when INITDB_OPTIONS change meaning
INITDB_OPTIONS = (
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
)


def cache_root() -> Path:
    if env := os.environ.get("DRIFTBOT_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftbot"


def cache_enabled() -> bool:
    return os.environ.get("DRIFTBOT_PG_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def template_dir(bindir: Path, version_line: str) -> Path:
    """Where the template for these binaries lives: keyed by their path, version and file."""
    postgres = (bindir / "postgres").resolve()
    stat = postgres.stat()
    key = "|".join(
        (
            str(TEMPLATE_FORMAT),
            str(postgres),
            version_line,
            str(stat.st_size),
            str(stat.st_mtime_ns),
            " ".join(INITDB_OPTIONS),
        )
    )
    major = version_line.split()[-1].split(".")[0] if version_line else "x"
    return cache_root() / "pgdata" / f"pg{major}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def make_data_dir(
    bindir: Path, version_line: str, data: Path, account: pwd.struct_passwd | None, env: Mapping[str, str]
) -> str:
    """Fill `data` (not existing yet; its parent is owned by `account`): "cache" or "initdb"."""
    template = template_dir(bindir, version_line) if cache_enabled() else None
    if template is not None and (template / "PG_VERSION").is_file():
        try:
            _copy(template, data, account)
            return "cache"
        except OSError as exc:  # a damaged or unreadable cache costs one initdb, not the run
            log.warning("cannot copy the cached data directory %s (%s); running initdb", template, exc)
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(template, ignore_errors=True)  # stored afresh below
    _initdb(bindir, data, account, env)
    if template is not None:
        _store(data, template)
    return "initdb"


def _initdb(bindir: Path, data: Path, account: pwd.struct_passwd | None, env: Mapping[str, str]) -> None:
    kwargs: dict[str, object] = {"env": dict(env)}
    if account is not None:
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    result = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), *INITDB_OPTIONS],
        capture_output=True,
        text=True,
        cwd=data.parent,
        **kwargs,
    )  # type: ignore[call-overload]
    if result.returncode != 0:
        raise InfrastructureError(f"initdb failed: {(result.stderr or result.stdout).strip()}")


def _copy(source: Path, dest: Path, account: pwd.struct_passwd | None) -> None:
    shutil.copytree(source, dest, symlinks=True)
    if account is not None:  # PostgreSQL insists on owning its data directory
        for root, dirs, files in os.walk(dest):
            os.chown(root, account.pw_uid, account.pw_gid)
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid, follow_symlinks=False)


def _store(data: Path, template: Path) -> None:
    """Keep a copy of a fresh data directory; a concurrent run storing the same one is fine."""
    staging = template.parent / f".{template.name}.{secrets.token_hex(4)}"
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(data, staging, symlinks=True)
        staging.rename(template)
        log.debug("cached the initdb data directory in %s", template)
    except OSError as exc:
        if not (template / "PG_VERSION").is_file():
            log.debug("could not cache the data directory in %s: %s", template, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
