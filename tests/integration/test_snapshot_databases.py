"""Snapshots kept as databases on a long-lived (`url`) server: copied instead of restored, same answer.

The first run keeps its head as a cached archive and as a database `driftbot_snapshot_<key>`; a
later run on the same server copies that database. To show the copy is what was used, restoring an
archive fails the test in the later run: only the copy can give it its head. A copy stands in for an
archive only: without the archive in the cache, it is not used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from test_snapshots import add_revision, applied, comparable

from driftbot.postgres.base import Server, libpq_conninfo
from driftbot.runs.check import run_check
from driftbot.runs.snapshot_databases import PREFIX
from driftbot.runs.snapshots import SnapshotCache
from driftbot.settings import Settings

UrlSettings = Callable[..., Settings]


def copies(server: Server) -> dict[str, bool]:
    """The snapshot databases on the server: name → whether connections are allowed."""
    with psycopg.connect(libpq_conninfo(server.admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, datallowconn FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)
        ).fetchall()
    return {str(name): bool(allowed) for name, allowed in rows}


@pytest.fixture
def no_copies_left(pg_server: Server) -> Iterator[None]:
    """Other tests of this session keep copies too: start and end without any."""

    def drop_all() -> None:
        with psycopg.connect(libpq_conninfo(pg_server.admin_url), autocommit=True) as conn:
            for name in copies(pg_server):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    drop_all()
    yield
    drop_all()


def no_archive_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, restoring an archive fails the test: only the copy can give a run its head. (The
    archive itself stays as it is: a copy stands in for exactly the archive it was made with.)"""

    def refused(*_: object) -> None:
        raise AssertionError("the archive was restored, not the server's copy")

    monkeypatch.setattr(SnapshotCache, "restore", refused)


@pytest.mark.usefixtures("no_copies_left")
def test_a_copy_stands_in_only_for_the_archive_it_was_made_with(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server
) -> None:
    # same key, another archive (a revision reading a file another run changed; another user's cache
    # on a shared server): the copy made for one is not the other's
    project = make_project("column_missing")
    run_check(url_settings(project, suggest=False))
    for archive in Path(os.environ["DRIFTBOT_SNAPSHOT_DIR"]).glob("*.dump"):
        archive.write_bytes(archive.read_bytes() + b"\0")  # still restores: pg_restore ignores the tail
    report = run_check(url_settings(project, suggest=False))
    assert report.cache is not None and report.cache.restored == "0001"
    assert len(copies(pg_server)) >= 2  # the first archive's copy, and this one's


@pytest.mark.usefixtures("no_copies_left")
def test_a_later_run_copies_the_kept_database_and_finds_what_the_cold_run_found(
    make_project: Callable[[str], Path], url_settings: UrlSettings, pg_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project("column_missing")
    cold = run_check(url_settings(project))
    assert cold.cache is not None and cold.cache.stored == ("0001",)
    assert list(copies(pg_server).values()) == [False]  # one copy, nobody may connect to it

    no_archive_restores(monkeypatch)
    cached = run_check(url_settings(project))

    assert cached.cache is not None and cached.cache.restored == "0001" and applied(cached) == []
    assert cold.suggestion is not None and cold.suggestion.verified
    assert comparable(cached) == comparable(cold)  # findings, suggestion and its verification


@pytest.mark.usefixtures("no_copies_left")
def test_a_copy_is_used_only_for_an_archive_the_cache_holds(
    make_project: Callable[[str], Path],
    url_settings: UrlSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_server: Server,
) -> None:
    project = make_project("column_missing")
    run_check(url_settings(project, suggest=False))
    assert copies(pg_server)

    monkeypatch.setenv("DRIFTBOT_SNAPSHOT_DIR", str(tmp_path / "another-cache"))
    report = run_check(url_settings(project, suggest=False))

    assert report.cache is not None and report.cache.restored is None and applied(report) == ["0001"]


@pytest.mark.usefixtures("no_copies_left")
def test_an_archive_restored_the_slow_way_is_kept_as_a_copy_for_the_next_run(
    make_project: Callable[[str], Path], url_settings: UrlSettings, monkeypatch: pytest.MonkeyPatch, pg_server: Server
) -> None:
    project = make_project("column_missing")
    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "0")  # off: archives only
    cold = run_check(url_settings(project, suggest=False))
    from_archive = run_check(url_settings(project, suggest=False))
    assert not copies(pg_server)
    assert from_archive.cache is not None and from_archive.cache.restored == "0001"
    assert comparable(from_archive) == comparable(cold)

    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "4")
    add_revision(project, "0002", "0001", "age")
    pr = run_check(url_settings(project, suggest=False))  # restores 0001's archive, keeps it and 0002 as copies
    assert pr.cache is not None and pr.cache.restored == "0001" and applied(pr) == ["0002"]
    assert len(copies(pg_server)) == 2

    no_archive_restores(monkeypatch)
    again = run_check(url_settings(project, suggest=False))
    assert again.cache is not None and again.cache.restored == "0002" and applied(again) == []
    assert comparable(again) == comparable(pr)


@pytest.mark.usefixtures("no_copies_left")
def test_a_server_keeps_at_most_the_configured_number_of_copies_the_least_recently_used_go(
    make_project: Callable[[str], Path], url_settings: UrlSettings, monkeypatch: pytest.MonkeyPatch, pg_server: Server
) -> None:
    monkeypatch.setenv("DRIFTBOT_SERVER_SNAPSHOTS", "2")
    project = make_project("column_missing")
    run_check(url_settings(project, suggest=False))
    first = set(copies(pg_server))
    for rev, down, column in (("0002", "0001", "age"), ("0003", "0002", "score")):
        add_revision(project, rev, down, column)
        run_check(url_settings(project, suggest=False))

    kept = set(copies(pg_server))
    assert len(kept) == 2 and not kept & first  # 0001's copy was used least recently: it went
