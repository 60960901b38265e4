"""The worker: the pull request's code runs here, never next to a GitHub token (DESIGN.md, trust boundary).

A PR's migrations, models and `install` command are untrusted. They run in a subprocess
(`python -m driftbot check --format json --output FILE`) that
- gets an environment with every token removed: `INPUT_*` (the action's inputs, the token
  among them), `ACTIONS_*` (runtime, cache and OIDC tokens), any name with TOKEN in it, the
  runner's file commands (GITHUB_ENV, GITHUB_OUTPUT, ...), and any variable whose value holds
  a secret the caller names;
- runs, when we are root (a container action always is), as an unprivileged account with no
  supplementary groups (so not the docker socket's group), which cannot read the parent's
  /proc/<pid>/environ nor any `.git` in the workspace (where actions/checkout keeps the token:
  every one, nested checkouts included, is closed to others until the caller's run ends);
- works, as that account, on a copy of the workspace (no `.git`, only what others may read:
  a 0600 credentials file another step left stays out), so no mode in the workspace changes;
  the report's paths are translated back to the workspace;
- leaves nothing behind: after each command every process of the account is killed (it is
  ours alone), so no detached process outlives the worker to read what opens later. Not root,
  the worker is us: its session, process group and descendants are killed (we are their
  subreaper), but a process that got itself adopted elsewhere (a service manager) escapes;
- cannot read the parent's /proc/<pid>/environ as the same user either: the parent marks
  itself non-dumpable (prctl PR_SET_DUMPABLE), which makes its /proc files root's.
The Report comes back as JSON, checked against the schema like any untrusted input.

The snapshot cache (snapshots.py) is the trusted side's: the worker reads it in place, never
writes it. What the worker stores goes to a directory of its own; the caller keeps it
(`SnapshotShare.keep`: runs of merged code) or drops it (pull requests), see SECURITY.md.
"""

from __future__ import annotations

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
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import jsonschema

from driftbot.errors import EXIT_INFRA, EXIT_UNCHECKABLE, EXIT_USAGE, ConfigError, InfrastructureError
from driftbot.report.model import ErrorInfo, Report, from_dict, to_dict
from driftbot.runs.snapshots import SnapshotCache, max_bytes_from_env
from driftbot.safety.secure import prctl
from driftbot.safety.secure import protect_process as protect_process  # re-exported: driftbot.action.main uses it
from driftbot.settings import Settings

log = logging.getLogger(__name__)

WORKER_ACCOUNTS = ("driftbot", "nobody")  # the Dockerfile creates `driftbot`; `nobody` exists elsewhere
# every process of the account is killed after each command: two workers at once need one account each
WORKER_ACCOUNT_ENV = "DRIFTBOT_WORKER_ACCOUNT"
REPORT_MAX_BYTES = 10 * 1024 * 1024
SCHEMA = Path(__file__).parent.parent / "report" / "schema" / "report.schema.json"
_SCRUB_PREFIXES = ("INPUT_", "ACTIONS_")
_SCRUB_NAMES = frozenset(
    {
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_OUTPUT",
        "GITHUB_STATE",
        "GITHUB_STEP_SUMMARY",
        "DRIFTBOT_DATABASE_URL",
        "PYTHONSTARTUP",
        "PYTHONINSPECT",
    }
)
_SCRUB_PATTERN = re.compile(r"TOKEN", re.IGNORECASE)
PR_SET_CHILD_SUBREAPER = 36
KILL_TIMEOUT = 10.0  # seconds for every leftover process to be gone (SIGKILL: only D-state delays it)


class ReportRejected(ConfigError):
    """A JSON report that is too big, not JSON, or not a driftbot report (worker or artifact)."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class SnapshotShare:
    """The trusted snapshot cache a worker run reads, and whether the archives it writes are kept."""

    directory: Path
    keep: bool
    max_mb: int = 256  # actions/cache uploads and downloads it whole on every job


def scrubbed_environ(environ: Mapping[str, str], secret_values: Sequence[str] = ()) -> dict[str, str]:
    """The environment minus everything that is, or could hold, a token."""
    values = [v for v in secret_values if len(v) >= 8]
    return {
        name: value
        for name, value in environ.items()
        if not name.upper().startswith(_SCRUB_PREFIXES)
        and name.upper() not in _SCRUB_NAMES
        and not _SCRUB_PATTERN.search(name)
        and not any(secret in value for secret in values)
    }


def worker_account() -> Account | None:
    """The account PR code runs as: None when we are not root (it then runs as us, token-free)."""
    if os.geteuid() != 0:
        return None
    if chosen := os.environ.get(WORKER_ACCOUNT_ENV):
        return _chosen_account(chosen)
    for name in WORKER_ACCOUNTS:
        with suppress(KeyError):
            entry = pwd.getpwnam(name)
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    raise InfrastructureError(
        "running as root and no unprivileged account (driftbot, nobody) to run the project's code as",
        hint="create one: useradd --system driftbot",
    )


def _chosen_account(name: str) -> Account:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InfrastructureError(
            f"{WORKER_ACCOUNT_ENV} names the account {name!r}, which does not exist",
            hint=f"create it (useradd --system {name}) or unset {WORKER_ACCOUNT_ENV}",
        ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise InfrastructureError(
            f"{WORKER_ACCOUNT_ENV} names {name!r}, a root account: the project's code must not run as root",
            hint="name an unprivileged account that nothing else runs as",
        )
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def run_in_worker(
    settings: Settings,
    *,
    install: str | None = None,
    share: Path | None = None,
    secret_values: Sequence[str] = (),
    stream: IO[str] | None = None,
    snapshots: SnapshotShare | None = None,
) -> Report:
    """Run `install` (if any) and the engine on `settings.project_dir` in the worker; its Report.

    `share` is the tree the worker may read (default: the project directory): as root, a copy
    of it, and the report's paths are mapped back. The worker's output goes to `stream`
    (default stdout), fenced off from workflow commands. `snapshots`: the cache it restores
    from (default: none, the run is cold).
    """
    protect_process()
    account = worker_account()
    project_dir = settings.project_dir.resolve()
    if not project_dir.is_dir():
        raise ConfigError(f"{settings.project_dir} is not a directory")
    root = (share or project_dir).resolve()
    if not project_dir.is_relative_to(root):
        raise ConfigError(f"{settings.project_dir} is not inside {share}")
    out = stream if stream is not None else sys.stdout
    with tempfile.TemporaryDirectory(prefix="driftbot-worker-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        cache = _SnapshotRun(snapshots, scratch, account)
        if settings.since_files is not None:
            settings = settings.replace(since_files=_hand_over(settings.since_files, scratch / "since-files", account))
        if account is None:
            return cache.done(_work(settings, project_dir, scratch, account, install, secret_values, out, cache.env))
        os.chown(scratch, account.uid, account.gid)
        stack.enter_context(git_dirs_closed(root))
        tree = scratch / "tree"
        copy_tree(root, tree, account, exclude=frozenset({snapshots.directory.resolve()}) if snapshots else frozenset())
        copied = settings.replace(
            project_dir=tree / project_dir.relative_to(root), config_file=_moved(settings.config_file, root, tree)
        )
        report = _work(
            copied, tree / project_dir.relative_to(root), scratch, account, install, secret_values, out, cache.env
        )
        return cache.done(relocated(report, tree, root))


class _SnapshotRun:
    """The worker's view of the snapshot cache: read in place, writes to a directory of its own.

    That directory is opened before the worker runs: it owns its scratch directory and may move
    the path elsewhere, but the descriptor stays on what we made."""

    def __init__(self, share: SnapshotShare | None, scratch: Path, account: Account | None) -> None:
        self.share = share
        self.env = {"DRIFTBOT_SNAPSHOT_DIR": str(scratch / "no-snapshots"), "DRIFTBOT_SNAPSHOT_STORE": "off"}
        self._incoming: int | None = None
        if share is None:
            return
        self.env = {"DRIFTBOT_SNAPSHOT_DIR": str(share.directory), "DRIFTBOT_SNAPSHOT_STORE": "off"}
        if share.keep:
            incoming = scratch / "snapshots-out"
            incoming.mkdir(mode=0o700)
            if account is not None:
                os.chown(incoming, account.uid, account.gid)
            self._incoming = os.open(incoming, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            self.env = {"DRIFTBOT_SNAPSHOT_DIR": str(share.directory), "DRIFTBOT_SNAPSHOT_STORE_DIR": str(incoming)}

    def done(self, report: Report) -> Report:
        """Keep what the worker stored, if the caller trusts this run; the report as it came."""
        if self.share is None or self._incoming is None:
            return report
        try:
            cache = SnapshotCache(self.share.directory, max_bytes_from_env(self.share.max_mb))
            taken = cache.adopt(self._incoming)
            log.debug("kept %d snapshot(s) in %s", len(taken), self.share.directory)
        except OSError as exc:  # a full disk must not fail the check
            log.warning("could not keep the run's snapshots in %s: %s", self.share.directory, exc)
        finally:
            os.close(self._incoming)
            self._incoming = None
        return report


def _hand_over(source: Path, dest: Path, account: Account | None) -> Path:
    """A copy of a file of ours (the trusted side's) that the worker's account may read."""
    shutil.copyfile(source, dest)
    if account is not None:
        os.chown(dest, account.uid, account.gid)
    return dest


def _moved(path: Path | None, root: Path, tree: Path) -> Path | None:
    """`path` in the worker's copy, when it is in the shared tree."""
    if path is None or not path.resolve().is_relative_to(root):
        return path
    return tree / path.resolve().relative_to(root)


def relocated(report: Report, tree: Path, root: Path) -> Report:
    """The report with the copy's paths (in paths, messages, tracebacks) as the workspace's."""
    prefix = re.compile(re.escape(str(tree)) + r"(?![\w.-])")

    def move(value: Any) -> Any:
        if isinstance(value, str):
            return prefix.sub(lambda _: str(root), value)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [move(v) for v in value]
        return value

    return from_dict(move(to_dict(report)))


def _work(
    settings: Settings,
    project_dir: Path,
    scratch: Path,
    account: Account | None,
    install: str | None,
    secret_values: Sequence[str],
    out: IO[str],
    cache_env: Mapping[str, str],
) -> Report:
    env = _worker_environ(scratch, account, secret_values, cache_env)
    python = sys.executable
    if install:
        installed = _install(install, project_dir, scratch, account, env, out)
        if isinstance(installed, Report):
            return installed
        python = installed
    if settings.database_url is not None:
        env["DRIFTBOT_DATABASE_URL"] = settings.database_url.value  # not argv: /proc/*/cmdline is world-readable
    report_file = scratch / "report.json"
    code = _run(
        [
            python,
            "-m",
            "driftbot",
            "check",
            *check_arguments(settings),
            "--format",
            "json",
            "--output",
            str(report_file),
        ],
        project_dir,
        env,
        account,
        out,
        title="driftbot check",
    )
    if not report_file.exists():
        exit_code = code if code in (EXIT_USAGE, EXIT_INFRA) else EXIT_UNCHECKABLE
        return _failed(
            "worker", f"the check exited with {code} and wrote no report", "its output is in the log", exit_code
        )
    return read_report(report_file)


def _worker_environ(
    scratch: Path, account: Account | None, secret_values: Sequence[str], cache_env: Mapping[str, str]
) -> dict[str, str]:
    """The worker's environment: no secret, no snapshot store of the orchestrator's, HOME in scratch."""
    env = {
        name: value
        for name, value in scrubbed_environ(os.environ, secret_values).items()
        if not name.startswith("DRIFTBOT_SNAPSHOT")
    }
    env.update(HOME=str(scratch), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", **cache_env)
    if account is not None:
        env.update(USER=account.name, LOGNAME=account.name)
    return env


def _install(
    install: str, project_dir: Path, scratch: Path, account: Account | None, env: dict[str, str], out: IO[str]
) -> str | Report:
    """The project's install command in a venv of the worker's own (`env` gains it): its python, or the
    failed Report."""
    venv = scratch / "venv"
    python = str(create_venv(venv, account, env, out))
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}")
    code = _run(
        [shutil.which("bash") or "/bin/sh", "-c", install],
        project_dir,
        env,
        account,
        out,
        title=f"install: {install.strip().splitlines()[0][:100]}",
    )
    if code != 0:
        return _failed(
            "install",
            f"the install command exited with {code}: {install.strip()}",
            "its output is in the log",
            EXIT_UNCHECKABLE,
        )
    return python


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
    if not settings.cache:
        args.append("--no-cache")
    if settings.since is not None:  # the review (review.py): "" turns off whatever [tool.driftbot] says
        args.append(f"--since={settings.since}" if settings.since else "--no-since")
    if settings.since_files is not None:
        args += ["--since-files", str(settings.since_files)]
    if settings.fail_on != "drift":
        args += ["--fail-on", settings.fail_on]
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


def _run(cmd: list[str], cwd: Path, env: dict[str, str], account: Account | None, out: IO[str], *, title: str) -> int:
    """Run one worker command, its output copied to `out` between stop-commands markers.

    The command ends when its process does: whatever it left running is killed then (it could
    hold the output open, or wait to read what opens later), by a watcher while we read.
    """
    kwargs: dict[str, Any] = {}
    if account is not None:
        kwargs.update(user=account.uid, group=account.gid, extra_groups=[])
    # PR code must not be able to issue workflow commands (::set-output::, ::add-mask::, annotations)
    fence = secrets.token_hex(16)
    out.write(f"::group::{title}\n::stop-commands::{fence}\n")
    out.flush()
    before: frozenset[int] = frozenset()
    if account is None:  # the worker is us: its orphans must come to us to be told apart from others'
        become_subreaper()
        before = frozenset(p.pid for p in processes() if p.ppid == os.getpid())
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            **kwargs,
        )
    except OSError as exc:
        out.write(f"::{fence}::\n::endgroup::\n")
        who = f"the {account.name} account" if account else "the worker"
        raise InfrastructureError(
            f"{who} cannot run {cmd[0]} in {cwd}: {exc.strerror}",
            hint="the worker's Python and the project must be readable by that account "
            "(the action's image is set up for it); or run driftbot as a non-root user",
        ) from exc
    watcher = threading.Thread(target=_kill_when_done, args=(proc, account, before), daemon=True)
    watcher.start()
    last = "\n"
    try:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                out.write(line)
                last = line
        return proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        watcher.join()
        kill_leftovers(proc.pid, account, before)
        # unterminated output would glue the resume token to its last line: commands never resume
        out.write(("" if last.endswith("\n") else "\n") + f"::{fence}::\n::endgroup::\n")
        out.flush()


def _kill_when_done(proc: subprocess.Popen[str], account: Account | None, before: frozenset[int]) -> None:
    with suppress(Exception):  # best effort, early: the caller kills again, and reports what it cannot
        proc.wait()
        kill_leftovers(proc.pid, account, before)


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


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    sid: int
    zombie: bool
    uids: tuple[int, ...]  # real, effective, saved, filesystem


def processes() -> list[Process]:
    """Every process /proc shows (none where there is no /proc)."""
    found = []
    with suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with suppress(OSError, ValueError, IndexError):
                    found.append(_process(int(entry.name)))
    return found


def _process(pid: int) -> Process:
    stat_line = Path(f"/proc/{pid}/stat").read_text()
    fields = stat_line[stat_line.rindex(")") + 2 :].split()  # the name in (...) may hold anything
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    return Process(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0] in ("Z", "X"), tuple(map(int, uids)))


def kill_leftovers(leader: int, account: Account | None, before: frozenset[int] = frozenset()) -> None:
    """SIGKILL what a worker command left running, until nothing is left.

    As root: every process of the worker's account (dedicated to it: all of them are PR code).
    Not root: the worker is us, so only its tree can be told apart: its session and process
    group, their descendants, and the orphans handed to us as their subreaper (our children
    that were not there before the command, `before`).
    """
    deadline = time.monotonic() + KILL_TIMEOUT
    while True:
        found = processes()
        _reap(found, account, before, leader)
        targets = _of_account(found, account) if account is not None else _of_tree(found, leader, before)
        if not targets:
            return
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"{len(targets)} processes of the worker survive SIGKILL (pids "
                f"{', '.join(map(str, sorted(targets)[:10]))})"
            )
        if account is not None:
            _kill_everything_as(account)
        for pid in targets:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _of_account(found: list[Process], account: Account) -> set[int]:
    return {p.pid for p in found if not p.zombie and account.uid in p.uids}


def _of_tree(found: list[Process], leader: int, before: frozenset[int]) -> set[int]:
    me, uid = os.getpid(), os.getuid()
    live = [p for p in found if not p.zombie and p.uids[0] == uid and p.pid != me]
    tree = {p.pid for p in live if leader in (p.sid, p.pgid) or (p.ppid == me and p.pid not in before)}
    tree.add(leader)
    while grown := {p.pid for p in live if p.ppid in tree} - tree:
        tree |= grown
    return tree & {p.pid for p in live}


def _reap(found: list[Process], account: Account | None, before: frozenset[int], leader: int) -> None:
    """Wait for the killed orphans handed to us (PID 1 in a container, or their subreaper)."""
    me, uid = os.getpid(), (account.uid if account else os.getuid())
    for p in found:
        if p.zombie and p.ppid == me and uid in p.uids and p.pid not in before and p.pid != leader:
            with suppress(ChildProcessError):
                os.waitpid(p.pid, os.WNOHANG)


def _kill_everything_as(account: Account) -> None:
    """kill(-1, SIGKILL) from inside the account: the kernel signals all of it at once, so no
    fork between our look at /proc and our kill can slip through (a fork bomb neither)."""
    with suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", "import os; os.kill(-1, 9)"],
            cwd="/",
            env={},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=account.uid,
            group=account.gid,
            extra_groups=[],
            timeout=KILL_TIMEOUT,
            check=False,
        )


def become_subreaper() -> None:
    """Orphans of our children come to us rather than to init: a worker that runs as us, and
    daemonizes, stays findable (and killable) as our child."""
    prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")


def copy_tree(root: Path, tree: Path, account: Account, exclude: frozenset[Path] = frozenset()) -> None:
    """What of `root` others may read, copied as root into `tree`, owned by the worker's account.

    No `.git` (the token), no file others cannot read and no directory others cannot enter (a
    0600 credentials file another step wrote stays out), no device, socket or FIFO, nothing in
    `exclude` (the snapshot cache: read in place). Links are copied as links, never followed:
    we are root. The workspace itself is not touched.
    """
    _make_dir(tree, root.lstat(), account)
    for dirpath, dirnames, filenames in os.walk(root):
        src, dest = Path(dirpath), tree / Path(dirpath).relative_to(root)
        shared = []
        for name in dirnames:
            st = (src / name).lstat()
            if stat.S_ISLNK(st.st_mode):
                _copy_link(src / name, dest / name, account)
            elif name != ".git" and st.st_mode & _OTHERS_ENTER == _OTHERS_ENTER and src / name not in exclude:
                _make_dir(dest / name, st, account)
                shared.append(name)
        dirnames[:] = shared
        for name in filenames:
            st = (src / name).lstat()
            if stat.S_ISLNK(st.st_mode):
                _copy_link(src / name, dest / name, account)
            elif stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
                _copy_file(src / name, dest / name, st, account)


_OTHERS_ENTER = stat.S_IROTH | stat.S_IXOTH


def _make_dir(path: Path, st: os.stat_result, account: Account) -> None:
    os.mkdir(path, 0o700)
    os.chown(path, account.uid, account.gid)
    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o777 | 0o700)  # the worker's copy: its install may write


def _copy_link(src: Path, dest: Path, account: Account) -> None:
    os.symlink(os.readlink(src), dest)
    os.lchown(dest, account.uid, account.gid)


def _copy_file(src: Path, dest: Path, st: os.stat_result, account: Account) -> None:
    with open(os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as fin:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            return
        with open(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            os.fchown(fout.fileno(), account.uid, account.gid)
            os.fchmod(fout.fileno(), stat.S_IMODE(st.st_mode) & 0o777)  # no set-id bits
            os.utime(fout.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))


@contextmanager
def git_dirs_closed(root: Path) -> Iterator[None]:
    """actions/checkout writes the token into .git/config: every .git in `root` (nested checkouts
    too) and above it is closed to others while this lasts (as root; not root, the worker is us).

    Wrap the whole run in it, not one worker command: what opens .git again must come after
    the last of the PR's code is dead. Modes are put back as they were.
    """
    closed: list[tuple[Path, int]] = []
    if os.geteuid() == 0:
        for git in _git_dirs(root.resolve()):
            with suppress(OSError):
                mode = stat.S_IMODE(git.lstat().st_mode)
                if stat.S_ISDIR(git.lstat().st_mode) and mode & 0o077:
                    os.chmod(git, mode & 0o700)
                    closed.append((git, mode))
    try:
        yield
    finally:
        for path, mode in reversed(closed):
            with suppress(OSError):
                os.chmod(path, mode)


def _git_dirs(root: Path) -> Iterator[Path]:
    yield from (parent / ".git" for parent in (root, *root.parents))
    for dirpath, dirnames, _ in os.walk(root):
        if ".git" in dirnames and Path(dirpath) != root:
            yield Path(dirpath) / ".git"
        dirnames[:] = [d for d in dirnames if d != ".git"]
