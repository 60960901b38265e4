"""The flags every project command shares, and the Settings they make.

`project_options` adds them to a subcommand (check, revision, sync, detect); `settings_from_args`
turns parsed flags into Settings, leaving what was not given to [tool.driftbot] and the defaults.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from driftbot.project import projectlog
from driftbot.report.render import FORMATS
from driftbot.settings import POSTGRES_KINDS, Secret, Settings

VERBOSE_HELP = (
    "show the project's own output as it runs (env.py's logging, alembic's `Running upgrade` lines); "
    "hidden by default, and its last lines quoted when a step fails (--debug shows it too)"
)


def apply_verbosity(settings: Settings) -> None:
    """--debug logs everything; --verbose (or --debug) also lets the project's own output through."""
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    projectlog.show(settings.verbose or settings.debug)


def _postgres_major(text: str) -> int:
    if not text.isdigit() or int(text) < 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PostgreSQL major version (e.g. 16)")
    return int(text)


def project_options(cmd: argparse.ArgumentParser) -> None:
    # Defaults are None: an option not given leaves its value to [tool.driftbot] (driftbot/config.py).
    cmd.add_argument("path", nargs="?", type=Path, help="project directory holding alembic.ini (default: .)")
    cmd.add_argument("-c", "--config", type=Path, help="the alembic.ini to use")
    cmd.add_argument(
        "--config-file",
        type=Path,
        metavar="FILE",
        help="driftbot's settings (default: [tool.driftbot] in the nearest pyproject.toml)",
    )
    cmd.add_argument("--metadata", help="module:attr of the MetaData to compare (default: env.py's target_metadata)")
    cmd.add_argument(
        "--script-location",
        type=Path,
        metavar="DIR",
        help="the migrations directory (env.py, versions/), for an alembic.ini without "
        "script_location because the application sets it from code (Flask-Migrate)",
    )
    cmd.add_argument(
        "--flask-app",
        metavar="MODULE:APP",
        help="a Flask application or factory (module:create_app): env.py runs inside its "
        "app_context(), as `flask db upgrade` runs it (Flask-Migrate)",
    )
    cmd.add_argument(
        "--url-env",
        action="append",
        metavar="VAR",
        help="environment variable(s) through which env.py reads the database URL (repeatable; default DATABASE_URL)",
    )
    _server_options(cmd)
    cmd.add_argument(
        "--baseline", help="FILE.sql or module:callable that prepares the empty database before `upgrade heads`"
    )
    cmd.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        default=None,
        help="run every revision, not only those after the deepest cached snapshot "
        "(DRIFTBOT_CACHE_DIR, default ~/.cache/driftbot)",
    )
    cmd.add_argument("--format", choices=FORMATS, dest="fmt")
    cmd.add_argument("-o", "--output", type=Path, help="write the report here (in --format)")
    cmd.add_argument("--debug", action="store_true", default=None, help="log everything, show tracebacks")
    cmd.add_argument("-v", "--verbose", action="store_true", default=None, help=VERBOSE_HELP)


def _server_options(cmd: argparse.ArgumentParser) -> None:
    """Where the scratch PostgreSQL comes from."""
    cmd.add_argument(
        "--postgres",
        choices=POSTGRES_KINDS,
        help="where the scratch PostgreSQL comes from (default: auto: url if given, else local "
        "binaries, else Docker, else embedded)",
    )
    cmd.add_argument(
        "--postgres-version",
        type=_postgres_major,
        metavar="N",
        help="PostgreSQL major version: local binaries of it, else the postgres:N Docker image",
    )
    cmd.add_argument(
        "--postgres-image", metavar="IMAGE", help="the Docker image for --postgres docker (default: postgres:<version>)"
    )
    cmd.add_argument(
        "--postgres-timeout",
        type=float,
        metavar="SECONDS",
        help="how long a starting server may take to accept connections (default: 60)",
    )


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
