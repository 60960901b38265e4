"""The worker: the pull request's code runs here, never next to a GitHub token (DESIGN.md, trust boundary).

A PR's migrations, models and `install` command are untrusted. They run in a subprocess
(`python -m driftbot check --format json --output FILE`) that
- gets an environment with every token removed: `INPUT_*` (the action's inputs, the token
  among them), `ACTIONS_*` (runtime, cache and OIDC tokens), any name with TOKEN in it, the
  runner's file commands (GITHUB_ENV, GITHUB_OUTPUT, ...), and any variable whose value holds
  a secret the caller names;
- runs, when we are root (a container action always is), as an unprivileged account with no
  supplementary groups (so not the docker socket's group), which cannot read the parent's
  /proc/<pid>/environ nor the workspace's `.git` (where actions/checkout keeps the token);
- cannot read the parent's /proc/<pid>/environ as the same user either: the parent marks
  itself non-dumpable (prctl PR_SET_DUMPABLE), which makes its /proc files root's.
The Report comes back as JSON, checked against the schema like any untrusted input.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import jsonschema

from driftbot.errors import EXIT_INFRA, EXIT_UNCHECKABLE, EXIT_USAGE, ConfigError, InfrastructureError
from driftbot.report import ErrorInfo, Report, from_dict
from driftbot.settings import Settings

log = logging.getLogger(__name__)

WORKER_ACCOUNTS = ("driftbot", "nobody")  # the Dockerfile creates `driftbot`; `nobody` exists elsewhere
REPORT_MAX_BYTES = 10 * 1024 * 1024
SCHEMA = Path(__file__).parent / "schema" / "report.schema.json"
_SCRUB_PREFIXES = ("INPUT_", "ACTIONS_")
_SCRUB_NAMES = frozenset({"GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY",
                          "DRIFTBOT_DATABASE_URL", "PYTHONSTARTUP", "PYTHONINSPECT"})
_SCRUB_PATTERN = re.compile(r"TOKEN", re.IGNORECASE)
PR_SET_DUMPABLE = 4


class ReportRejected(ConfigError):
    """A JSON report that is too big, not JSON, or not a driftbot report (worker or artifact)."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


def scrubbed_environ(environ: Mapping[str, str], secret_values: Sequence[str] = ()) -> dict[str, str]:
    """The environment minus everything that is, or could hold, a token."""
    values = [v for v in secret_values if len(v) >= 8]
    return {name: value for name, value in environ.items()
            if not name.upper().startswith(_SCRUB_PREFIXES)
            and name.upper() not in _SCRUB_NAMES
            and not _SCRUB_PATTERN.search(name)
            and not any(secret in value for secret in values)}


def protect_process() -> None:
    """Make this process's /proc files (environ, mem) unreadable to its children, same user or not."""
    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_DUMPABLE, 0) failed: errno %s", ctypes.get_errno())


def worker_account() -> Account | None:
    """The account PR code runs as: None when we are not root (it then runs as us, token-free)."""
    if os.geteuid() != 0:
        return None
    for name in WORKER_ACCOUNTS:
        with suppress(KeyError):
            entry = pwd.getpwnam(name)
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    raise InfrastructureError("running as root and no unprivileged account (driftbot, nobody) to run the "
                              "project's code as", hint="create one: useradd --system driftbot")


def run_in_worker(settings: Settings, *, install: str | None = None, share: Path | None = None,
                  secret_values: Sequence[str] = (), stream: IO[str] | None = None) -> Report:
    """Run `install` (if any) and the engine on `settings.project_dir` in the worker; its Report.

    `share` is the tree the worker must be able to read (default: the project directory).
    The worker's output goes to `stream` (default stdout), fenced off from workflow commands.
    """
    protect_process()
    account = worker_account()
    project_dir = settings.project_dir.resolve()
    if not project_dir.is_dir():
        raise ConfigError(f"{settings.project_dir} is not a directory")
    out = stream if stream is not None else sys.stdout
    with tempfile.TemporaryDirectory(prefix="driftbot-worker-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        if account is not None:
            os.chown(scratch, account.uid, account.gid)
            make_readable(share or project_dir, account)
            stack.enter_context(git_dir_hidden(share or project_dir))
        report = _work(settings, project_dir, scratch, account, install, secret_values, out)
    return report


def _work(settings: Settings, project_dir: Path, scratch: Path, account: Account | None, install: str | None,
          secret_values: Sequence[str], out: IO[str]) -> Report:
    env = scrubbed_environ(os.environ, secret_values)
    env.update(HOME=str(scratch), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    if account is not None:
        env.update(USER=account.name, LOGNAME=account.name)
    python = sys.executable
    if install:
        venv = scratch / "venv"
        python = str(create_venv(venv, account, env, out))
        env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}")
        code = _run([shutil.which("bash") or "/bin/sh", "-c", install], project_dir, env, account, out,
                    title=f"install: {install.strip().splitlines()[0][:100]}")
        if code != 0:
            return _failed("install", f"the install command exited with {code}: {install.strip()}",
                           "its output is in the log", EXIT_UNCHECKABLE)
    if settings.database_url is not None:
        env["DRIFTBOT_DATABASE_URL"] = settings.database_url.value  # not argv: /proc/*/cmdline is world-readable
    report_file = scratch / "report.json"
    code = _run([python, "-m", "driftbot", "check", *check_arguments(settings), "--format", "json",
                 "--output", str(report_file)], project_dir, env, account, out, title="driftbot check")
    if not report_file.exists():
        exit_code = code if code in (EXIT_USAGE, EXIT_INFRA) else EXIT_UNCHECKABLE
        return _failed("worker", f"the check exited with {code} and wrote no report", "its output is in the log",
                       exit_code)
    return read_report(report_file)


def check_arguments(settings: Settings) -> list[str]:
    """`driftbot check` flags for what the action decided (the database URL goes by environment)."""
    args = [str(settings.project_dir.resolve())]
    if settings.config_file is not None:
        args += ["-c", str(settings.config_file)]
    if settings.metadata:
        args += ["--metadata", settings.metadata]
    for name in settings.url_env_vars:
        args += ["--url-env", name]
    args += ["--postgres", settings.postgres]
    if settings.postgres_version is not None:
        args += ["--postgres-version", str(settings.postgres_version)]
    if settings.baseline:
        args += ["--baseline", settings.baseline]
    if not settings.suggest:
        args.append("--no-suggest")
    if settings.debug:
        args.append("--debug")
    return args


def read_report(path: Path, max_bytes: int = REPORT_MAX_BYTES) -> Report:
    """A Report from an untrusted JSON file: size cap, JSON, schema, then the strict typed load.

    The file is opened without following links and must be a plain file: the worker owns the
    directory it is in, and must not trick the orchestrator into reading something else.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise ReportRejected(f"{path.name} is not a plain file")
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ReportRejected(f"cannot read {path.name}: {exc.strerror}") from exc
    if len(raw) > max_bytes:
        raise ReportRejected(f"{path.name} is larger than the {max_bytes} bytes a report may have")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ReportRejected(f"{path.name} is not JSON: {str(exc)[:200]}") from exc
    try:
        jsonschema.validate(data, _schema())
        return from_dict(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise ReportRejected(f"{path.name} is not a driftbot report: at {where}: {exc.message[:200]}") from exc
    except Exception as exc:  # dacite: what the schema allows but the typed Report still refuses
        raise ReportRejected(f"{path.name} is not a driftbot report: {str(exc)[:200]}") from exc


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return schema


def _failed(stage: str, message: str, hint: str, exit_code: int) -> Report:
    return Report("error", exit_code, None, None, None, (), {}, ErrorInfo(stage, message, hint))


def create_venv(venv: Path, account: Account | None, env: dict[str, str], out: IO[str]) -> Path:
    """A virtualenv the worker owns, for `install`. driftbot and its dependencies stay importable
    (read-only, from ours) through a .pth file; what the project installs comes first."""
    code = _run([sys.executable, "-m", "venv", str(venv)], venv.parent, env, account, out, title="worker venv")
    if code != 0:
        raise InfrastructureError(f"could not create the worker's virtualenv (python -m venv exited {code})")
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    theirs = Path(sysconfig.get_path("purelib", scheme="venv", vars={"base": str(venv), "platbase": str(venv)}))
    pth = theirs / "zz-driftbot.pth"  # site.addsitedir also runs our site-packages' own .pth files
    pth.write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in ours))
    if account is not None:
        os.chown(pth, account.uid, account.gid)
    return venv / "bin" / "python"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], account: Account | None, out: IO[str], *,
         title: str) -> int:
    """Run one worker command, its output copied to `out` between stop-commands markers."""
    kwargs: dict[str, Any] = {}
    if account is not None:
        kwargs.update(user=account.uid, group=account.gid, extra_groups=[])
    # PR code must not be able to issue workflow commands (::set-output::, ::add-mask::, annotations)
    fence = secrets.token_hex(16)
    out.write(f"::group::{title}\n::stop-commands::{fence}\n")
    out.flush()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
                                **kwargs)
    except OSError as exc:
        out.write(f"::{fence}::\n::endgroup::\n")
        who = f"the {account.name} account" if account else "the worker"
        raise InfrastructureError(f"{who} cannot run {cmd[0]} in {cwd}: {exc.strerror}",
                                  hint="the worker's Python and the project must be readable by that account "
                                       "(the action's image is set up for it); or run driftbot as a non-root user"
                                  ) from exc
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
        return proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        out.write(f"::{fence}::\n::endgroup::\n")
        out.flush()


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM lets the worker's CLI remove its scratch databases; a stuck one is killed."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def make_readable(root: Path, account: Account) -> None:
    """Let `account` read the project: o+rX on the tree (not .git), o+x on the directories above it.

    Only bits that are missing are added; a checkout is normally world-readable already.
    """
    root = root.resolve()
    for parent in reversed(root.parents):
        _add_mode(parent, stat.S_IXOTH)
    _add_mode(root, stat.S_IROTH | stat.S_IXOTH)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames:
            _add_mode(Path(dirpath) / name, stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            _add_mode(Path(dirpath) / name, stat.S_IROTH)


def _add_mode(path: Path, bits: int) -> None:
    with suppress(OSError):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or st.st_mode & bits == bits:
            return
        os.chmod(path, stat.S_IMODE(st.st_mode) | bits)


@contextmanager
def git_dir_hidden(root: Path) -> Iterator[None]:
    """actions/checkout writes the token into .git/config: keep .git closed while PR code runs."""
    hidden: list[tuple[Path, int]] = []
    for candidate in {root.resolve() / ".git", *(p / ".git" for p in root.resolve().parents)}:
        with suppress(OSError):
            st = candidate.lstat()
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077:
                os.chmod(candidate, stat.S_IMODE(st.st_mode) & 0o700)
                hidden.append((candidate, stat.S_IMODE(st.st_mode)))
    try:
        yield
    finally:
        for path, mode in hidden:
            with suppress(OSError):
                os.chmod(path, mode)
