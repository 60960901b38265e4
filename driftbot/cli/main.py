"""The `driftbot` command: flags → Settings → run → render → exit code (DESIGN.md)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from driftbot import __version__
from driftbot.cli import detect as cli_detect
from driftbot.config import configure
from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT, EXIT_INFRA, EXIT_USAGE, DriftbotError, Terminated
from driftbot.postgres import cleanup
from driftbot.project import projectlog
from driftbot.report.model import Report
from driftbot.report.render import FORMATS, Format, render
from driftbot.runs.check import run_check
from driftbot.runtime import exit_now, tune_gc
from driftbot.safety.masking import ScrubbingFormatter, register_url, scrub
from driftbot.settings import FAIL_ON, POSTGRES_KINDS, Secret, Settings

log = logging.getLogger("driftbot")

ISSUES_URL = "https://github.com/driftbot/driftbot/issues"
VERBOSE_HELP = ("show the project's own output as it runs (env.py's logging, alembic's `Running upgrade` lines); "
                "hidden by default, and its last lines quoted when a step fails (--debug shows it too)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"driftbot: error: {message}\n")


def _postgres_major(text: str) -> int:
    if not text.isdigit() or int(text) < 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PostgreSQL major version (e.g. 16)")
    return int(text)


def _project_options(cmd: argparse.ArgumentParser) -> None:
    # Defaults are None: an option not given leaves its value to [tool.driftbot] (driftbot/config.py).
    cmd.add_argument("path", nargs="?", type=Path,
                     help="project directory holding alembic.ini (default: .)")
    cmd.add_argument("-c", "--config", type=Path, help="the alembic.ini to use")
    cmd.add_argument("--config-file", type=Path, metavar="FILE",
                     help="driftbot's settings (default: [tool.driftbot] in the nearest pyproject.toml)")
    cmd.add_argument("--metadata", help="module:attr of the MetaData to compare (default: env.py's target_metadata)")
    cmd.add_argument("--script-location", type=Path, metavar="DIR",
                     help="the migrations directory (env.py, versions/), for an alembic.ini without "
                          "script_location because the application sets it from code (Flask-Migrate)")
    cmd.add_argument("--flask-app", metavar="MODULE:APP",
                     help="a Flask application or factory (module:create_app): env.py runs inside its "
                          "app_context(), as `flask db upgrade` runs it (Flask-Migrate)")
    cmd.add_argument("--url-env", action="append", metavar="VAR",
                     help="environment variable(s) through which env.py reads the database URL "
                          "(repeatable; default DATABASE_URL)")
    cmd.add_argument("--postgres", choices=POSTGRES_KINDS,
                     help="where the scratch PostgreSQL comes from (default: auto: url if given, else local "
                          "binaries, else Docker, else embedded)")
    cmd.add_argument("--postgres-version", type=_postgres_major, metavar="N",
                     help="PostgreSQL major version: local binaries of it, else the postgres:N Docker image")
    cmd.add_argument("--postgres-image", metavar="IMAGE",
                     help="the Docker image for --postgres docker (default: postgres:<version>)")
    cmd.add_argument("--postgres-timeout", type=float, metavar="SECONDS",
                     help="how long a starting server may take to accept connections (default: 60)")
    cmd.add_argument("--baseline", help="FILE.sql or module:callable that prepares the empty database "
                                        "before `upgrade heads`")
    cmd.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                     help="run every revision, not only those after the deepest cached snapshot "
                          "(DRIFTBOT_CACHE_DIR, default ~/.cache/driftbot)")
    cmd.add_argument("--format", choices=FORMATS, dest="fmt")
    cmd.add_argument("-o", "--output", type=Path, help="write the report here (in --format)")
    cmd.add_argument("--debug", action="store_true", default=None, help="log everything, show tracebacks")
    cmd.add_argument("-v", "--verbose", action="store_true", default=None, help=VERBOSE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="driftbot", description="Catch schema drift between SQLAlchemy models and Alembic migrations.")
    parser.add_argument("--version", action="version", version=f"driftbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    scratch_url_help = ("server for --postgres url (or DRIFTBOT_DATABASE_URL); driftbot only creates and "
                        "drops its own scratch databases there")

    check = sub.add_parser("check", help="compare what the migrations build with what the models declare")
    check.set_defaults(handler=run_engine)
    _project_options(check)
    check.add_argument("--database-url", default=os.environ.get("DRIFTBOT_DATABASE_URL"), help=scratch_url_help)
    check.add_argument("--no-suggest", dest="suggest", action="store_false", default=None,
                       help="don't generate and verify the migration that removes the drift")
    check.add_argument("--write", action="store_true", default=None,
                       help="write the verified suggested migration into the project's versions directory")
    check.add_argument("--since", metavar="REF|REV",
                       help="review the pull request's own revisions: those whose files changed since git ref REF, "
                            "or those after revision REV (downgrade proven, locks and rewrites measured)")
    check.add_argument("--no-since", dest="since", action="store_const", const="",
                       help="no review, whatever [tool.driftbot] since says")
    check.add_argument("--since-files", type=Path, metavar="FILE",
                       help="--since REF: the files changed since REF (NUL-separated, relative to the project "
                            "directory) instead of asking git; the action passes it to its worker, which has no .git")
    check.add_argument("--sample-data", type=Path, metavar="FILE.sql",
                       help="--since: rows for the impact copies (default: a few generated rows per table)")
    check.add_argument("--fail-on", choices=FAIL_ON,
                       help="--since: `hazard` makes the review's hazards fail the check (default: drift)")

    revision = sub.add_parser("revision", help="write the verified migration that brings the migrations to the "
                                               "models (like `alembic revision --autogenerate`, complete and checked)")
    revision.set_defaults(handler=run_engine)
    _project_options(revision)
    revision.add_argument("-m", "--message", help="the revision's message (default: a summary of the change)")
    revision.add_argument("--database-url", default=os.environ.get("DRIFTBOT_DATABASE_URL"), help=scratch_url_help)

    sync = sub.add_parser("sync", help="for a development database: apply pending migrations, write the fix "
                                       "migration, apply it, confirm zero drift")
    sync.set_defaults(handler=run_engine)
    _project_options(sync)
    sync.add_argument("--database-url", dest="target_url", required=True,
                      help="the development database to bring to the models (it is migrated)")
    sync.add_argument("--scratch-database-url", dest="database_url", default=os.environ.get("DRIFTBOT_DATABASE_URL"),
                      help=scratch_url_help)
    sync.add_argument("-m", "--message", help="the revision's message (default: a summary of the change)")

    cleanup.add_parser(sub)
    cli_detect.add_detect(sub)
    cli_detect.add_status(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """What the command line says; what it leaves out (None) is the configuration file's or the default."""
    target = getattr(args, "target_url", None)
    given = {
        "project_dir": args.path,
        "config_file": args.config,
        "driftbot_config": args.config_file,
        "metadata": args.metadata,
        "script_location": args.script_location,
        "flask_app": args.flask_app,
        "url_env_vars": tuple(args.url_env) if args.url_env else None,
        "postgres": args.postgres,
        "postgres_version": args.postgres_version,
        "postgres_image": args.postgres_image,
        "postgres_timeout": args.postgres_timeout,
        "database_url": Secret(args.database_url) if args.database_url else None,
        "baseline": args.baseline,
        "suggest": getattr(args, "suggest", None),
        "cache": getattr(args, "cache", None),
        "write": True if args.command in ("revision", "sync") else getattr(args, "write", None),
        "message": getattr(args, "message", None),
        "target_url": Secret(target) if target else None,
        "debug": args.debug,
        "verbose": args.verbose,
        "since": getattr(args, "since", None) if args.command == "check" else "",  # review: `check` only
        "since_files": getattr(args, "since_files", None),
        "sample_data": getattr(args, "sample_data", None),
        "fail_on": getattr(args, "fail_on", None),
        "report_format": args.fmt,
        "report_output": args.output,
    }
    values = {name: value for name, value in given.items() if value is not None}
    return Settings().replace(**values, explicit=frozenset(values))


def run_engine(args: argparse.Namespace) -> int:
    """check, revision, sync: one engine run, rendered to stdout (and --output)."""
    settings = configure(settings_from_args(args))
    apply_verbosity(settings)
    report = run_check(settings)
    fmt: Format = settings.report_format
    if settings.report_output is not None:
        write_atomically(settings.report_output, render(report, fmt))
        sys.stdout.write(render(report, "text"))
    else:
        sys.stdout.write(render(report, fmt))
    return exit_code(args.command, report)


def apply_verbosity(settings: Settings) -> None:
    """--debug logs everything; --verbose (or --debug) also lets the project's own output through."""
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    projectlog.show(settings.verbose or settings.debug)


def exit_code(command: str, report: Report) -> int:
    """`revision` succeeds when it wrote a verified file (or there was nothing to write)."""
    if command == "revision" and report.error is None:
        if report.suggestion is not None and report.suggestion.written:
            return EXIT_CLEAN
        return EXIT_CLEAN if report.status == "clean" else EXIT_DRIFT
    return report.exit_code


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def write_atomically(path: Path, text: str) -> None:
    """Whole file or no file: a crash never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = getattr(args, "target_url", None)  # detect: a list (--database-url repeated)
    for url in (getattr(args, "database_url", None), *(target if isinstance(target, list) else [target])):
        register_url(url)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr)
    for handler_ in logging.getLogger().handlers:
        handler_.setFormatter(ScrubbingFormatter("driftbot: %(levelname)s %(name)s: %(message)s"))
    signal.signal(signal.SIGTERM, _terminate)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except DriftbotError as exc:
        print(f"driftbot: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("driftbot: interrupted; scratch databases and servers were removed", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"driftbot: stopped by {exc}; scratch databases and servers were removed", file=sys.stderr)
        return 143
    except Exception as exc:
        if getattr(args, "debug", False):
            print(scrub(traceback.format_exc()), file=sys.stderr, end="")
        message = scrub(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        print(f"driftbot: internal error: {type(exc).__name__}: {message}\n"
              f"run again with --debug and report it at {ISSUES_URL}", file=sys.stderr)
        return EXIT_INFRA


def entry() -> NoReturn:
    tune_gc()
    exit_now(main())  # output and files are written, scratch servers gone: no teardown to wait for
