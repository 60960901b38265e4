"""[tool.driftbot] / --config-file: every option, the command line wins, invalid keys and values
exit 2 naming the key and the allowed values; ignore rules leave out exactly what they match."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from driftbot.cli.main import build_parser, main
from driftbot.cli.options import settings_from_args
from driftbot.compare.findings import Finding
from driftbot.compare.ignore import IgnoreRules, apply_ignore_rules
from driftbot.config import FINDING_KINDS, configure, find_config, load_config
from driftbot.errors import ConfigError
from driftbot.settings import Settings


def _pyproject(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pyproject.toml"
    path.write_text("[project]\nname = 'demo'\n\n" + body)
    return path


def _cli_settings(*argv: str) -> Settings:
    return configure(settings_from_args(build_parser().parse_args(["check", *argv])))


EVERY_OPTION = """
[tool.driftbot]
config = "db/alembic.ini"
metadata = "app.models:Base"
url-env = ["APP_DATABASE_URL", "DATABASE_URL"]
postgres = "docker"
postgres-version = 16
postgres-image = "postgres:16-alpine"
postgres-timeout = 90
database-url = "postgresql://u:secret@db:5432/postgres"
baseline = "schema/base.sql"
format = "json"
output = "reports/drift.json"
suggest = false
write = true
debug = true
verbose = true

[tool.driftbot.ignore]
schemas = ["audit"]
tables = ["legacy_*"]
columns = ["*.updated_at"]
kinds = ["column_comment_changed", "index_renamed"]
"""


def test_every_option_is_read_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    _pyproject(tmp_path, EVERY_OPTION)
    s = _cli_settings(str(tmp_path))
    assert s.config_file == tmp_path / "db/alembic.ini"
    assert s.metadata == "app.models:Base"
    assert s.url_env_vars == ("APP_DATABASE_URL", "DATABASE_URL")
    assert (s.postgres, s.postgres_version, s.postgres_image, s.postgres_timeout) == (
        "docker",
        16,
        "postgres:16-alpine",
        90.0,
    )
    assert s.database_url is not None and s.database_url.value == "postgresql://u:secret@db:5432/postgres"
    assert "secret" not in repr(s)
    assert s.baseline == str(tmp_path / "schema/base.sql")
    assert (s.report_format, s.report_output) == ("json", tmp_path / "reports/drift.json")
    assert (s.suggest, s.write, s.debug, s.verbose) == (False, True, True, True)
    assert s.ignore == IgnoreRules(
        schemas=("audit",),
        tables=("legacy_*",),
        columns=("*.updated_at",),
        kinds=("column_comment_changed", "index_renamed"),
    )


def test_the_command_line_wins_even_when_it_repeats_a_default(tmp_path: Path) -> None:
    _pyproject(tmp_path, EVERY_OPTION)
    s = _cli_settings(
        str(tmp_path),
        "--postgres",
        "auto",
        "--postgres-version",
        "15",
        "--format",
        "text",
        "--url-env",
        "OTHER_URL",
        "--no-suggest",
        "--postgres-timeout",
        "5",
    )
    assert (s.postgres, s.postgres_version, s.report_format, s.url_env_vars) == ("auto", 15, "text", ("OTHER_URL",))
    assert s.postgres_timeout == 5.0
    assert s.postgres_image == "postgres:16-alpine"  # not given on the command line: from the file


def test_programmatic_settings_keep_what_differs_from_the_defaults(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.driftbot]\npostgres = "docker"\nformat = "markdown"\n')
    s = configure(Settings(project_dir=tmp_path, postgres="url"))
    assert (s.postgres, s.report_format, s.configured) == ("url", "markdown", True)
    assert configure(s) is s  # applied once


def test_snake_case_keys_are_accepted(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.driftbot]\npostgres_version = '17'\n")
    assert _cli_settings(str(tmp_path)).postgres_version == 17


def test_nearest_pyproject_with_a_driftbot_table_up_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _pyproject(repo, '[tool.driftbot]\nformat = "json"\n')
    (repo / ".git").mkdir()
    service = repo / "services" / "api"
    _pyproject(service, "[tool.ruff]\nline-length = 100\n")  # no [tool.driftbot]: keep looking
    assert find_config(service) == repo / "pyproject.toml"
    assert _cli_settings(str(service)).report_format == "json"
    # above the repository's root nothing is looked at
    _pyproject(tmp_path, '[tool.driftbot]\nformat = "markdown"\n')
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config(service) is None
    assert _cli_settings(str(service)).report_format == "text"


def test_config_file_option_takes_a_file_of_its_own(tmp_path: Path) -> None:
    own = tmp_path / "ci" / "driftbot.toml"
    own.parent.mkdir()
    own.write_text('postgres = "embedded"\noutput = "out/report.md"\n[ignore]\nkinds = ["enum_*"]\n')
    _pyproject(tmp_path, '[tool.driftbot]\npostgres = "docker"\n')  # not read: --config-file wins
    s = _cli_settings(str(tmp_path), "--config-file", str(own))
    assert (s.postgres, s.report_output, s.ignore.kinds) == ("embedded", own.parent / "out/report.md", ("enum_*",))


def test_the_review_keys_are_read_validated_and_lose_to_the_command_line(tmp_path: Path) -> None:
    _pyproject(tmp_path, '[tool.driftbot]\nsince = "main"\nsample-data = "ci/rows.sql"\nfail-on = "hazard"\n')
    s = _cli_settings(str(tmp_path))
    assert (s.since, s.sample_data, s.fail_on) == ("main", tmp_path / "ci/rows.sql", "hazard")
    s = _cli_settings(str(tmp_path), "--since", "0002abcd", "--sample-data", "mine.sql", "--fail-on", "drift")
    assert (s.since, s.sample_data, s.fail_on) == ("0002abcd", Path("mine.sql"), "drift")
    assert _cli_settings(str(tmp_path), "--no-since").since == ""  # off, whatever the file says
    # the review is `check`'s: `revision` does not pick the file's since up
    revision = configure(settings_from_args(build_parser().parse_args(["revision", str(tmp_path)])))
    assert revision.since == "" and revision.fail_on == "hazard"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('since = "--output=/tmp/x"', ["[tool.driftbot] since", "not starting with -"]),
        ('since = "main branch"', ["[tool.driftbot] since", "one word"]),
        ("since = 2", ["[tool.driftbot] since", "a git ref"]),
        ('fail-on = "hazards"', ["[tool.driftbot] fail-on", "drift, hazard"]),
        ("sample-data = ''", ["[tool.driftbot] sample-data", "FILE.sql"]),
        ('sample_dat = "rows.sql"', ["unknown key", "did you mean 'sample-data'"]),
        ('postgres = "podman"', ["[tool.driftbot] postgres", "'podman'", "auto, local, docker, embedded, url"]),
        ("postgres-version = 'latest'", ["postgres-version", "'latest'", "major version"]),
        ('format = "html"', ["[tool.driftbot] format", "text, markdown, json"]),
        ("suggest = 'no'", ["[tool.driftbot] suggest", "true, false"]),
        ("postgres-timeout = -1", ["postgres-timeout", "greater than 0"]),
        ("url-env = ['NOT A NAME']", ["url-env", "environment variable name"]),
        (
            'postgress = "docker"',
            ["[tool.driftbot] postgress", "unknown key", "did you mean 'postgres'", "postgres-version"],
        ),
        ("ignore = ['x']", ["[tool.driftbot.ignore]", "schemas, tables, columns, kinds"]),
        (
            "[tool.driftbot.ignore]\nindexes = ['x']",
            ["[tool.driftbot.ignore] indexes", "unknown key", "schemas, tables, columns, kinds"],
        ),
        (
            "[tool.driftbot.ignore]\nkinds = ['column_mising']",
            ["'column_mising'", "matches no finding kind", "column_missing"],
        ),
        ("[tool.driftbot.ignore]\ntables = [1]", ["[tool.driftbot.ignore] tables", "glob patterns"]),
    ],
)
def test_invalid_configuration_names_the_key_and_the_allowed_values(
    tmp_path: Path, body: str, names: list[str]
) -> None:
    path = _pyproject(tmp_path, "[tool.driftbot]\n" + body + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text
    for name in names:
        assert name in text


def test_invalid_configuration_exits_2_with_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pyproject(tmp_path, '[tool.driftbot]\npostgres = "podman"\n')
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "postgres = 'podman'" in err and "allowed values: auto, local, docker, embedded, url" in err
    assert "Traceback" not in err


def test_broken_toml_and_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.driftbot\npostgres = 1\n")
    assert main(["check", str(tmp_path)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    assert main(["check", str(tmp_path), "--config-file", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml not found" in capsys.readouterr().err


def test_pyproject_without_driftbot_table_as_config_file_is_an_error(tmp_path: Path) -> None:
    path = _pyproject(tmp_path, "[tool.black]\n")
    with pytest.raises(ConfigError, match=r"has no \[tool.driftbot\] table"):
        load_config(path)


def test_command_line_rejects_a_bad_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--postgres-version", "sixteen"])
    assert exited.value.code == 2
    assert "'sixteen' is not a PostgreSQL major version" in capsys.readouterr().err


# --- ignore rules on findings --------------------------------------------------------------------


def _f(kind: str, schema: str | None, table: str | None, name: str | None, object_type: str) -> Finding:
    parts = [p for p in (schema, table, name if object_type != "table" else None) if p]
    return Finding(
        kind, ".".join(parts), "high", None, None, object_type=object_type, schema=schema, table=table, name=name
    )


FINDINGS = [
    _f("table_missing", "public", "legacy_orders", "legacy_orders", "table"),
    _f("column_missing", "public", "users", "updated_at", "column"),
    _f("column_missing", "public", "users", "email", "column"),
    _f("column_type_changed", "billing", "invoices", "updated_at", "column"),
    _f("index_missing", "public", "users", "ix_users_updated_at", "index"),
    _f("enum_values_added", "public", None, "legacy_status", "enum"),
    _f("table_extra", "audit", "log", "log", "table"),
    _f("column_comment_changed", "public", "users", "email", "column"),
    _f("multiple_heads", None, None, None, "migrations"),
]


@pytest.mark.parametrize(
    ("rules", "left_out"),
    [
        (IgnoreRules(), []),
        (IgnoreRules(schemas=("audit",)), ["audit.log"]),
        (IgnoreRules(tables=("legacy_*",)), ["public.legacy_orders", "public.legacy_status"]),
        (IgnoreRules(tables=("billing.*",)), ["billing.invoices.updated_at"]),
        (
            IgnoreRules(tables=("public.users",)),
            ["public.users.updated_at", "public.users.email", "public.users.ix_users_updated_at", "public.users.email"],
        ),
        (IgnoreRules(columns=("updated_at",)), ["public.users.updated_at", "billing.invoices.updated_at"]),
        (IgnoreRules(columns=("public.*.updated_at",)), ["public.users.updated_at"]),
        (IgnoreRules(columns=("users.e*",)), ["public.users.email", "public.users.email"]),
        (
            IgnoreRules(kinds=("column_comment_changed", "table_*")),
            ["public.legacy_orders", "audit.log", "public.users.email"],
        ),
    ],
)
def test_ignore_rules_leave_out_exactly_what_they_match(rules: IgnoreRules, left_out: list[str]) -> None:
    kept = apply_ignore_rules(list(FINDINGS), rules)
    assert sorted(f.object for f in FINDINGS if f not in kept) == sorted(left_out)


_NOTE = _f("column_missing", "public", "orders", "note", "column")
_ORDERS = _f("table_missing", "public", "orders", "orders", "table")


@pytest.mark.parametrize(
    ("rules", "finding"),
    [
        (IgnoreRules(columns=("users*",)), _f("column_missing", "public", "users", "email", "column")),
        (IgnoreRules(columns=("public.*",)), _NOTE),  # `*` is "note" or "orders", never "orders.note"
        (IgnoreRules(columns=("orders*",)), _NOTE),
        (IgnoreRules(tables=("pub*",)), _ORDERS),
        (IgnoreRules(tables=("*.*.orders",)), _ORDERS),  # more parts than the name has
        (IgnoreRules(tables=("users",)), _f("table_missing", "public", "users_archive", "users_archive", "table")),
    ],
)
def test_a_pattern_does_not_match_across_dots(rules: IgnoreRules, finding: Finding) -> None:
    """Matched against the whole dotted name, each of these would match: `*` would cross a dot."""
    assert not rules.ignores(finding)


@pytest.mark.parametrize(
    "rules",
    [
        IgnoreRules(columns=("*",)),
        IgnoreRules(columns=("orders.n*",)),
        IgnoreRules(columns=("*.*.note",)),
        IgnoreRules(tables=("public.ord*",)),
    ],
)
def test_a_pattern_matches_the_last_parts_of_a_dotted_name(rules: IgnoreRules) -> None:
    assert rules.ignores(_NOTE)


def test_finding_kinds_cover_what_the_readme_documents() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for kind in (
        "column_type_changed",
        "unique_renamed",
        "exclusion_changed",
        "enum_values_reordered",
        "sequence_changed",
        "model_rejected",
        "multiple_heads",
    ):
        assert kind in FINDING_KINDS and kind.split("_")[0] in readme


# --- the configuration in a real run (PostgreSQL from the session's server) ------------------------


def test_a_run_applies_the_ignore_rules_and_options_of_the_project(
    make_project: Callable[[str], Path], pg_url: str, tmp_path: Path
) -> None:
    project = make_project("column_missing")
    report_file = tmp_path / "out" / "report.json"
    _pyproject(project, f'[tool.driftbot]\nformat = "json"\noutput = "{report_file}"\nsuggest = false\n')
    env_cmd = [sys.executable, "-m", "driftbot", "check", str(project), "--postgres", "url"]
    env = {"DRIFTBOT_DATABASE_URL": pg_url, "PATH": "/usr/bin:/bin"}
    drift = subprocess.run(env_cmd, capture_output=True, text=True, env=env, timeout=120)
    assert drift.returncode == 1, drift.stderr
    report = json.loads(report_file.read_text())
    assert [f["kind"] for f in report["findings"]] == ["column_missing"]
    assert report["suggestion"] is None  # suggest = false from the file
    assert "DRIFT" in drift.stdout  # with --output, the terminal gets text

    (project / "pyproject.toml").write_text(
        f'[tool.driftbot]\nformat = "json"\noutput = "{report_file}"\n[tool.driftbot.ignore]\ncolumns = ["users.display_name"]\n'
    )
    clean = subprocess.run(env_cmd, capture_output=True, text=True, env=env, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(report_file.read_text())["status"] == "clean"

    # the command line wins over the file: markdown, to another file, and the file's ignore rule still applies
    md = subprocess.run(
        [*env_cmd, "--format", "markdown", "--output", str(tmp_path / "r.md")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert md.returncode == 0, md.stdout + md.stderr
    assert (tmp_path / "r.md").read_text().startswith("### driftbot")
    assert json.loads(report_file.read_text())["status"] == "clean"  # untouched since the previous run
