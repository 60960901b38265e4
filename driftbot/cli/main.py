"""The `driftbot` command: flags → Settings → run → render → exit code (DESIGN.md)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from driftbot import __version__
from driftbot.cli import detect as cli_detect
from driftbot.cli.options import apply_verbosity, project_options, settings_from_args
from driftbot.config import configure
from driftbot.errors import EXIT_CLEAN, EXIT_DRIFT, EXIT_INFRA, EXIT_USAGE, ISSUES_URL, DriftbotError, Terminated
from driftbot.postgres import cleanup
from driftbot.report.files import write_atomically
from driftbot.report.model import Report
from driftbot.report.render import Format, render
from driftbot.runs.check import run_check
from driftbot.runtime import exit_now, stop_on_sigterm, tune_gc
from driftbot.safety.masking import ScrubbingFormatter, register_url, scrub
from driftbot.settings import FAIL_ON

log = logging.getLogger("driftbot")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"driftbot: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="driftbot", description="Catch schema drift between SQLAlchemy models and Alembic migrations."
    )
    parser.add_argument("--version", action="version", version=f"driftbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_check(sub)
    _add_revision(sub)
    _add_sync(sub)
    cleanup.add_parser(sub)
    cli_detect.add_detect(sub)
    cli_detect.add_status(sub)
    return parser


SCRATCH_URL_HELP = (
    "server for --postgres url (or DRIFTBOT_DATABASE_URL); driftbot only creates and "
    "drops its own scratch databases there"
)


def _add_check(sub: argparse._SubParsersAction[_Parser]) -> None:
    check = sub.add_parser("check", help="compare what the migrations build with what the models declare")
    check.set_defaults(handler=run_engine)
    project_options(check)
    check.add_argument("--database-url", default=os.environ.get("DRIFTBOT_DATABASE_URL"), help=SCRATCH_URL_HELP)
    check.add_argument(
        "--no-suggest",
        dest="suggest",
        action="store_false",
        default=None,
        help="don't generate and verify the migration that removes the drift",
    )
    check.add_argument(
        "--write",
        action="store_true",
        default=None,
        help="write the verified suggested migration into the project's versions directory",
    )
    check.add_argument(
        "--since",
        metavar="REF|REV",
        help="review the pull request's own revisions: those whose files changed since git ref REF, "
        "or those after revision REV (downgrade proven, locks and rewrites measured)",
    )
    check.add_argument(
        "--no-since",
        dest="since",
        action="store_const",
        const="",
        help="no review, whatever [tool.driftbot] since says",
    )
    check.add_argument(
        "--since-files",
        type=Path,
        metavar="FILE",
        help="--since REF: the files changed since REF (NUL-separated, relative to the project "
        "directory) instead of asking git; the action passes it to its worker, which has no .git",
    )
    check.add_argument(
        "--sample-data",
        type=Path,
        metavar="FILE.sql",
        help="--since: rows for the impact copies (default: a few generated rows per table)",
    )
    check.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        help="--since: `hazard` makes the review's hazards fail the check (default: drift)",
    )


def _add_revision(sub: argparse._SubParsersAction[_Parser]) -> None:
    revision = sub.add_parser(
        "revision",
        help="write the verified migration that brings the migrations to the "
        "models (like `alembic revision --autogenerate`, complete and checked)",
    )
    revision.set_defaults(handler=run_engine)
    project_options(revision)
    revision.add_argument("-m", "--message", help="the revision's message (default: a summary of the change)")
    revision.add_argument("--database-url", default=os.environ.get("DRIFTBOT_DATABASE_URL"), help=SCRATCH_URL_HELP)


def _add_sync(sub: argparse._SubParsersAction[_Parser]) -> None:
    sync = sub.add_parser(
        "sync",
        help="for a development database: apply pending migrations, write the fix "
        "migration, apply it, confirm zero drift",
    )
    sync.set_defaults(handler=run_engine)
    project_options(sync)
    sync.add_argument(
        "--database-url",
        dest="target_url",
        required=True,
        help="the development database to bring to the models (it is migrated)",
    )
    sync.add_argument(
        "--scratch-database-url",
        dest="database_url",
        default=os.environ.get("DRIFTBOT_DATABASE_URL"),
        help=SCRATCH_URL_HELP,
    )
    sync.add_argument("-m", "--message", help="the revision's message (default: a summary of the change)")


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


def exit_code(command: str, report: Report) -> int:
    """`revision` succeeds when it wrote a verified file (or there was nothing to write)."""
    if command == "revision" and report.error is None:
        if report.suggestion is not None and report.suggestion.written:
            return EXIT_CLEAN
        return EXIT_CLEAN if report.status == "clean" else EXIT_DRIFT
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = getattr(args, "target_url", None)  # detect: a list (--database-url repeated)
    for url in (getattr(args, "database_url", None), *(target if isinstance(target, list) else [target])):
        register_url(url)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr)
    for handler_ in logging.getLogger().handlers:
        handler_.setFormatter(ScrubbingFormatter("driftbot: %(levelname)s %(name)s: %(message)s"))
    stop_on_sigterm()
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
        print(
            f"driftbot: internal error: {type(exc).__name__}: {message}\n"
            f"run again with --debug and report it at {ISSUES_URL}",
            file=sys.stderr,
        )
        return EXIT_INFRA


def entry() -> NoReturn:
    tune_gc()
    exit_now(main())  # output and files are written, scratch servers gone: no teardown to wait for
