"""The project's output while its code runs: captured (the last lines kept, masked), or echoed masked."""

from __future__ import annotations

import io
import logging
import logging.config
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftbot.project import projectlog
from driftbot.safety.masking import register_secret

SECRET = "projectlog-s3cret-pw"


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """Quiet, and the other tests' loggers as they were (fileConfig disables those it does not name)."""
    register_secret(SECRET)
    projectlog.show(False)
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.disabled, lg.level, lg.propagate) for lg in (*loggers, logging.getLogger("alembic"))]
    yield
    projectlog.show(False)
    for lg, disabled, level, propagate in saved:
        lg.disabled, lg.propagate = disabled, propagate
        lg.setLevel(level)


INI = """[loggers]
keys = root,alembic
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARNING
handlers = console
[logger_alembic]
level = INFO
handlers =
qualname = alembic
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic
[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


def test_file_config_output_is_kept_back_and_driftbot_logging_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(INI)
    root = logging.getLogger()
    before = list(root.handlers)
    with projectlog.project_logging() as output:
        logging.config.fileConfig(ini)  # what env.py does: a console handler on sys.stderr
        logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001, create users")
        logging.getLogger("app").warning("connecting to postgresql://u:%s@db/app", SECRET)
        print("a print() in env.py")
    out, err = capsys.readouterr()
    assert out == "" and err == ""  # nothing reached the terminal
    assert output.tail() == (
        "INFO  [alembic.runtime.migration] Running upgrade  -> 0001, create users",
        "WARNI [app] connecting to postgresql://u:***@db/app",
        "a print() in env.py",
    )
    assert root.handlers == before
    assert not logging.getLogger("driftbot.project").disabled  # fileConfig disabled it; restored


def test_tail_is_the_last_lines_only_and_counts_a_line_without_newline() -> None:
    with projectlog.captured() as output:
        for n in range(50):
            sys.stderr.write(f"line {n}\n")
        sys.stderr.write("\n\n")  # blank lines don't take a place
        sys.stderr.write("partial " + SECRET)
    tail = output.tail()
    assert len(tail) == projectlog.TAIL_LINES
    assert tail[0] == f"line {50 - projectlog.TAIL_LINES + 1}"
    assert tail[-1] == "partial ***"


def test_verbose_echoes_each_line_masked_and_quotes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    projectlog.show(True)
    with projectlog.captured() as output:
        print(f"INFO  [app] postgresql://u:{SECRET}@db/app")
        sys.stderr.write(SECRET[:5])  # a secret split across writes is masked all the same
        sys.stderr.write(SECRET[5:] + "\n")
        sys.stderr.write("no newline at the end")
    err = capsys.readouterr().err
    assert err == "INFO  [app] postgresql://u:***@db/app\n***\nno newline at the end\n"
    assert output.tail() == ()


def test_streams_restored_after_an_exception() -> None:
    real_out, real_err = sys.stdout, sys.stderr
    with pytest.raises(RuntimeError), projectlog.captured():
        assert isinstance(sys.stderr, projectlog.Capture) and sys.stdout is sys.stderr
        assert sys.stderr.writable() and sys.stderr.encoding == "utf-8" and not sys.stderr.isatty()
        raise RuntimeError("env.py failed")
    assert (sys.stdout, sys.stderr) == (real_out, real_err)


class _Terminal(io.StringIO):
    def fileno(self) -> int:
        return 99


def test_fileno_is_the_real_streams() -> None:
    """faulthandler.enable() or subprocess(stderr=sys.stderr) in project code still work."""
    assert projectlog.Capture(_Terminal()).fileno() == 99
    with pytest.raises(io.UnsupportedOperation):
        projectlog.Capture().fileno()


def test_quoted_names_what_failed() -> None:
    assert projectlog.quoted((), "revision 0003") == ""
    text = projectlog.quoted(("INFO  [alembic] Running upgrade 0002 -> 0003",), "revision 0003")
    assert text == (
        "\nthe project's output before revision 0003 failed (last 1 lines; --verbose shows all):\n"
        "  INFO  [alembic] Running upgrade 0002 -> 0003"
    )


@pytest.mark.parametrize("debug", [False, True])
def test_the_actions_debug_mode_shows_the_projects_output(debug: bool, tmp_path: Path) -> None:
    """RUNNER_DEBUG / ACTIONS_STEP_DEBUG: the worker's `driftbot check` gets --debug, which implies --verbose."""
    from driftbot.action.worker import check_arguments
    from driftbot.cli.main import build_parser
    from driftbot.cli.options import apply_verbosity, settings_from_args
    from driftbot.settings import Settings

    args = build_parser().parse_args(["check", *check_arguments(Settings(project_dir=tmp_path, debug=debug))])
    root_level = logging.getLogger().level
    try:
        apply_verbosity(settings_from_args(args))
    finally:
        logging.getLogger().setLevel(root_level)
    with projectlog.captured() as output:
        sys.stderr.write("INFO  [alembic.runtime.migration] Running upgrade  -> 0001\n")
    assert output.tail() == (() if debug else ("INFO  [alembic.runtime.migration] Running upgrade  -> 0001",))


def test_verbose_flag_and_setting() -> None:
    from driftbot.cli.main import build_parser
    from driftbot.cli.options import settings_from_args

    for argv, expected in (
        (["check", "-v"], True),
        (["check", "--verbose"], True),
        (["check"], False),
        (["detect", "--verbose"], True),
        (["status", "--verbose"], True),
    ):
        args = build_parser().parse_args(argv)
        assert bool(args.verbose) is expected, argv
    assert settings_from_args(build_parser().parse_args(["check", "-v"])).verbose
