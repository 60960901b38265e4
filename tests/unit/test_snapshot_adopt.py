"""What the trusted side takes from a worker's snapshot directory: archives by name, plain files only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from driftbot.runs.snapshots import SnapshotCache

KEY = "a" * 64


def test_only_plain_archives_that_fit_are_adopted(tmp_path: Path) -> None:
    incoming, cache, secret = tmp_path / "incoming", tmp_path / "cache", tmp_path / "secret.txt"
    incoming.mkdir()
    secret.write_text("not for the cache")
    (incoming / f"{KEY}.dump").write_bytes(b"PGDMP archive")
    (incoming / f"{'b' * 64}.dump").symlink_to(secret)  # a link to something the worker cannot read
    os.link(secret, incoming / f"{'c' * 64}.dump")  # a hard link: not the worker's own file
    (incoming / f"{'d' * 64}.dump").write_bytes(b"x" * 2048)  # larger than the cache's bound
    (incoming / "notes.txt").write_text("not an archive name")
    (incoming / ".incoming-half.dump").write_text("unfinished")
    fd = os.open(incoming, os.O_RDONLY | os.O_DIRECTORY)
    try:
        taken = SnapshotCache(cache, max_bytes=1024).adopt(fd)
    finally:
        os.close(fd)
    assert taken == (KEY,)
    assert sorted(p.name for p in cache.iterdir()) == [f"{KEY}.dump"]
    adopted = cache / f"{KEY}.dump"
    assert adopted.read_bytes() == b"PGDMP archive" and not adopted.is_symlink()
    assert stat.S_IMODE(adopted.stat().st_mode) == 0o644


def test_a_renamed_directory_does_not_redirect_the_adoption(tmp_path: Path) -> None:
    incoming, cache, decoy = tmp_path / "incoming", tmp_path / "cache", tmp_path / "decoy"
    incoming.mkdir()
    decoy.mkdir()
    (decoy / f"{'e' * 64}.dump").write_bytes(b"decoy")
    fd = os.open(incoming, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (incoming / f"{KEY}.dump").write_bytes(b"real")
        incoming.rename(tmp_path / "moved")
        incoming.symlink_to(decoy)  # the worker owns its scratch directory: it may swap the path
        taken = SnapshotCache(cache, max_bytes=1024).adopt(fd)
    finally:
        os.close(fd)
    assert taken == (KEY,)
