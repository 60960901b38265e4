"""`driftbot detect` and `driftbot status`: flags → a live target and Settings → run → render → exit code.

The rendering of their reports is `report.render.render_live`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftbot.cli.options import VERBOSE_HELP, apply_verbosity, project_options, settings_from_args
from driftbot.config import configure
from driftbot.errors import EXIT_INFRA, ConfigError
from driftbot.report.files import write_atomically
from driftbot.report.model import Report
from driftbot.report.render import FORMATS, Format, render_live
from driftbot.runs.detect import run_detect, run_status
from driftbot.runs.detect_many import run_detect_many
from driftbot.runs.live import LiveTarget, live_target
from driftbot.safety.masking import register_url
from driftbot.settings import Settings

if TYPE_CHECKING:
    from driftbot.runs.detect_issue import IssueTarget

LIVE_URL_ENV = "DRIFTBOT_LIVE_DATABASE_URL"


def _live_options(cmd: argparse.ArgumentParser, many: bool = False) -> None:
    # dest "target_url": main() masks it (each of them) in any unexpected error, like sync's database
    if many:  # the environment's URL only when none is given: argparse would append to a default
        cmd.add_argument(
            "--database-url",
            dest="target_url",
            action="append",
            metavar="URL",
            help=f"a live database, only ever read; repeat it for several (or {LIVE_URL_ENV}; the "
            "environment keeps the password out of the process list)",
        )
        cmd.add_argument(
            "--database-urls-file",
            type=Path,
            metavar="FILE",
            help="live databases, one URL a line (blank lines and # comments ignored): each is "
            "reported, one read-only connection at a time, against one build of the migrations",
        )
        cmd.add_argument(
            "--schemas",
            metavar="PATTERN",
            help="schema per tenant: each schema of the live database(s) matching this glob (e.g. "
            "'tenant_*') is compared with what the migrations build in their default schema",
        )
    else:
        cmd.add_argument(
            "--database-url",
            dest="target_url",
            default=os.environ.get(LIVE_URL_ENV),
            metavar="URL",
            help=f"the live database, only ever read (or {LIVE_URL_ENV}; the environment keeps the "
            "password out of the process list)",
        )
    cmd.add_argument(
        "--statement-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="every statement on the live database is cancelled after this (default: 30)",
    )
    cmd.add_argument(
        "--lock-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="give up rather than wait longer for a lock held by another session (default: 5)",
    )
    cmd.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long connecting to the live database may take (default: 10)",
    )


def add_detect(sub: argparse._SubParsersAction[Any]) -> None:
    detect = sub.add_parser("detect", help="compare a live database (read-only) with the migrations and the models")
    detect.set_defaults(handler=run_detect_command)
    project_options(detect)
    _live_options(detect, many=True)
    detect.add_argument(
        "--scratch-database-url",
        dest="database_url",
        default=os.environ.get("DRIFTBOT_DATABASE_URL"),
        metavar="URL",
        help="server for the scratch databases (or DRIFTBOT_DATABASE_URL); never the live one",
    )
    detect.add_argument(
        "--fix",
        action="store_true",
        help="write the migration that brings the live database to the models, verified on a "
        "scratch copy of its schema (never applied to it)",
    )
    detect.add_argument(
        "--fix-to",
        choices=("models", "migrations", "live"),
        default=None,
        dest="fix_to",
        help="with --fix (implied): models (the default) writes the revision that brings the live "
        "database to the models; migrations writes driftbot-undo.sql, which brings its views, "
        "functions, triggers, policies, grants, ... back to what the migrations build (undoes "
        "hand changes), converged on a scratch copy; live writes the revision that makes the "
        "migrations build what the live database has (adopts hand changes), verified on "
        "scratch copies",
    )
    detect.add_argument("-m", "--message", help="the fix revision's message (default: a summary of the change)")
    detect.add_argument(
        "--github-issue",
        action="store_true",
        help="open a GitHub issue when the database drifts, update it while it stays drifted, close "
        "it when it is back in line (GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL)",
    )
    detect.add_argument(
        "--issue-id",
        default="production",
        metavar="ID",
        help="which driftbot issue: one per database checked (default: production)",
    )


def add_status(sub: argparse._SubParsersAction[Any]) -> None:
    status = sub.add_parser("status", help="which revisions a database has not run yet (read-only)")
    status.set_defaults(handler=run_status_command)
    status.add_argument(
        "path", nargs="?", type=Path, default=Path("."), help="project directory holding alembic.ini (default: .)"
    )
    status.add_argument("-c", "--config", type=Path, help="the alembic.ini to use")
    status.add_argument(
        "--url-env",
        action="append",
        metavar="VAR",
        help="environment variable(s) through which env.py reads the database URL",
    )
    status.add_argument(
        "--version-table",
        metavar="[SCHEMA.]TABLE",
        help="Alembic's version table (default: what env.py configures, else alembic_version)",
    )
    _live_options(status)
    status.add_argument("--format", choices=FORMATS, default="text", dest="fmt")
    status.add_argument("-o", "--output", type=Path, help="write the report here (in --format)")
    status.add_argument("--debug", action="store_true", help="log everything, show tracebacks")
    status.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)


def _target(args: argparse.Namespace, url: str | None = None) -> LiveTarget:
    return live_target(
        url or args.target_url,
        statement_timeout=args.statement_timeout,
        lock_timeout=args.lock_timeout,
        connect_timeout=args.connect_timeout,
    )


def _targets(args: argparse.Namespace) -> list[LiveTarget]:
    """--database-url (each), then --database-urls-file's lines; else the environment's one URL."""
    urls = list(args.target_url or [])
    if args.database_urls_file is not None:
        urls += read_urls_file(args.database_urls_file)
    if not urls and os.environ.get(LIVE_URL_ENV):
        urls.append(os.environ[LIVE_URL_ENV])
    for url in urls:
        register_url(url)  # masked from here on, whatever fails next
    targets = [_target(args, url) for url in dict.fromkeys(urls)] if urls else [_target(args)]
    if len(targets) > 1 or args.schemas is not None:
        for flag, given in (("--fix", args.fix or args.fix_to is not None), ("--github-issue", args.github_issue)):
            if given:
                raise ConfigError(
                    f"{flag} takes one live database, and no --schemas",
                    hint="run `driftbot detect` once per database for it (with its own --issue-id)",
                )
    return targets


def read_urls_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--database-urls-file {path}: {exc.strerror or exc}") from None
    urls = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not urls:
        raise ConfigError(f"--database-urls-file {path} names no database")
    return urls


def run_detect_command(args: argparse.Namespace) -> int:
    targets = _targets(args)
    # the live URL is not a `sync` target: Settings keeps only the scratch side
    settings = configure(settings_from_args(argparse.Namespace(**{**vars(args), "target_url": None})))
    apply_verbosity(settings)
    if len(targets) > 1 or args.schemas is not None:
        report = run_detect_many(settings, targets, args.schemas)
        _emit(report, settings.report_format, settings.report_output)
        return report.exit_code
    issue = _issue_target(args) if args.github_issue else None
    report = run_detect(settings, targets[0], fix=args.fix or args.fix_to is not None, fix_to=args.fix_to or "models")
    _emit(report, settings.report_format, settings.report_output)
    if issue is not None:
        from driftbot.runs.detect_issue import publish_detect_issue  # the GitHub client, only when asked for

        print(f"driftbot: {publish_detect_issue(report, issue)}", file=sys.stderr)
    return report.exit_code


def _issue_target(args: argparse.Namespace) -> IssueTarget:
    from driftbot.runs.detect_issue import IssueTarget

    """GitHub's own variables, as a scheduled workflow has them; checked before the database is read."""
    repo, token = os.environ.get("GITHUB_REPOSITORY", ""), os.environ.get("GITHUB_TOKEN", "")
    missing = [name for name, value in (("GITHUB_REPOSITORY", repo), ("GITHUB_TOKEN", token)) if not value]
    if missing:
        raise ConfigError(
            f"--github-issue needs {' and '.join(missing)} in the environment",
            hint="in a workflow: env: { GITHUB_TOKEN: ${{ github.token }} } and permissions: { issues: write }",
        )
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    run_id = os.environ.get("GITHUB_RUN_ID")
    return IssueTarget(
        repo,
        token,
        os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        args.issue_id,
        f"{server}/{repo}/actions/runs/{run_id}" if run_id else None,
    )


def run_status_command(args: argparse.Namespace) -> int:
    target = _target(args)
    settings = Settings(
        project_dir=args.path,
        config_file=args.config,
        debug=args.debug,
        verbose=args.verbose,
        url_env_vars=tuple(args.url_env) if args.url_env else ("DATABASE_URL",),
    )
    apply_verbosity(settings)
    report = run_status(settings, target, args.version_table)
    _emit(report, args.fmt, args.output)
    return report.exit_code


def _emit(report: Report, fmt: Format, output: Path | None) -> None:
    """The report; an unreachable database (exit 4) is one line on stderr, plus the report only
    where a machine reads it (-o FILE, --format json/markdown)."""
    if output is not None:
        write_atomically(output, render_live(report, fmt))
    for d in report.databases:  # several: each that could not be read, by name, and the rest as usual
        if d.report.error is not None:
            print(f"driftbot: {d.report.error.message}", file=sys.stderr)
    if report.exit_code == EXIT_INFRA and report.error is not None:
        print(f"driftbot: {report.error.message}", file=sys.stderr)
        if output is None and fmt != "text":
            sys.stdout.write(render_live(report, fmt))
        return
    sys.stdout.write(render_live(report, "text" if output is not None else fmt))
