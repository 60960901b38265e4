"""Git objects in memory with git's own object ids, so SHAs look and behave like GitHub's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TREE_MODE = "040000"


@dataclass(frozen=True)
class TreeEntry:
    path: str  # one path segment
    mode: str  # "100644", "100755", "040000", "120000", "160000"
    type: str  # "blob", "tree", "commit"
    sha: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str  # ISO 8601, UTC ("2024-01-01T00:00:00Z")


@dataclass(frozen=True)
class CommitObject:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Person
    committer: Person


def _epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _hash(kind: str, payload: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload).hexdigest()


def _tree_sort_key(entry: TreeEntry) -> bytes:
    # git sorts tree entries by name, with "/" appended to the names of trees
    return (entry.path + ("/" if entry.mode == TREE_MODE else "")).encode()


class GitStore:
    """Blobs, trees and commits of every repository the fake knows (one fork network)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, tuple[TreeEntry, ...]] = {}
        self.commits: dict[str, CommitObject] = {}

    def put_blob(self, data: bytes) -> str:
        sha = _hash("blob", data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, entries: list[TreeEntry]) -> str:
        ordered = tuple(sorted(entries, key=_tree_sort_key))
        payload = b"".join(f"{e.mode.lstrip('0')} {e.path}\0".encode() + bytes.fromhex(e.sha) for e in ordered)
        sha = _hash("tree", payload)
        self.trees[sha] = ordered
        return sha

    def put_commit(self, tree: str, parents: tuple[str, ...], message: str, author: Person, committer: Person) -> str:
        lines = [
            f"tree {tree}",
            *(f"parent {p}" for p in parents),
            f"author {author.name} <{author.email}> {_epoch(author.date)} +0000",
            f"committer {committer.name} <{committer.email}> {_epoch(committer.date)} +0000",
            "",
            message,
        ]
        sha = _hash("commit", "\n".join(lines).encode())
        self.commits[sha] = CommitObject(sha, tree, parents, message, author, committer)
        return sha

    def flatten(self, tree: str, prefix: str = "") -> dict[str, TreeEntry]:
        """Every non-tree entry under `tree` by full path."""
        out: dict[str, TreeEntry] = {}
        for entry in self.trees[tree]:
            path = f"{prefix}{entry.path}"
            if entry.mode == TREE_MODE:
                out.update(self.flatten(entry.sha, path + "/"))
            else:
                out[path] = TreeEntry(path, entry.mode, entry.type, entry.sha)
        return out

    def build_tree(self, flat: dict[str, TreeEntry]) -> str:
        """A tree (and its subtrees) from full paths."""
        here: list[TreeEntry] = []
        below: dict[str, dict[str, TreeEntry]] = {}
        for path, entry in flat.items():
            head, sep, rest = path.partition("/")
            if sep:
                below.setdefault(head, {})[rest] = TreeEntry(rest, entry.mode, entry.type, entry.sha)
            else:
                here.append(TreeEntry(head, entry.mode, entry.type, entry.sha))
        here += [TreeEntry(name, TREE_MODE, "tree", self.build_tree(sub)) for name, sub in below.items()]
        return self.put_tree(here)

    def file_at(self, commit: str, path: str) -> bytes | None:
        entry = self.flatten(self.commits[commit].tree).get(path)
        return self.blobs[entry.sha] if entry is not None and entry.type == "blob" else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        todo, seen = [descendant], set()
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen or sha not in self.commits:
                continue
            seen.add(sha)
            todo.extend(self.commits[sha].parents)
        return False
