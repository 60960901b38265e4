"""What the review (`since`, review.py) needs from git, asked on the trusted side before PR code runs.

The worker works on a copy of the workspace without `.git` (the token is in it), so
`--since REF` cannot be resolved there. The orchestrator resolves it here instead and hands
the worker the list of files changed since the ref, as a plain file (`--since-files`).

git runs here as the orchestrator, next to the token, on a checkout of the PR: nothing in
that checkout may make git run a program. Only plumbing that reads commits and trees (no
index, no working tree, so no fsmonitor, clean filter or untracked cache), no system or
global configuration, every repository-local setting that can name a program overridden on
the command line (which wins over the repository's config), no transport (a partial clone's
lazy fetch would run ssh and credential helpers), no pager, and a minimal environment.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT = "base"  # the action's `since` default: the pull request's base commit
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GIT_TIMEOUT = 60.0

# Later `-c` wins over the repository's .git/config; each one names a program git could run otherwise.
OVERRIDES = (
    "core.fsmonitor=false",  # an fsmonitor hook runs for anything that reads the index
    "core.hooksPath=/dev/null",  # no hook (reference-transaction, post-checkout, ...)
    "core.pager=cat",
    "pager.diff-tree=false",
    "diff.external=",  # an external diff program
    "core.sshCommand=false",
    "core.gitProxy=",
    "core.askPass=",
    "credential.helper=",
    "protocol.allow=never",  # no transport at all: a promisor remote's lazy fetch runs those
    "core.alternateRefsCommand=",
    "gpg.program=false",
    "core.editor=false",
    "sequence.editor=false",
)


@dataclass(frozen=True)
class Since:
    """What the worker's check gets: `--since LABEL` and, for a git ref, the files changed since it."""

    label: str  # the base SHA, the ref as given, or a revision id (the worker tells revisions apart)
    changed: tuple[str, ...] | None  # relative to the project directory; None: no ref, `label` is for the worker


@dataclass(frozen=True)
class Resolved:
    since: Since | None  # None: no review
    warning: str | None = None  # why the review that was asked for is skipped (a line for the log and comment)


def resolve_since(value: str | None, base_sha: str | None, project_dir: Path, workspace: Path) -> Resolved:
    """The `since` input as the worker needs it: `base` (the PR's base commit), a git ref, a revision id."""
    if value is None:
        return Resolved(None)
    if value == DEFAULT:
        if base_sha is None:
            log.info("since: not a pull request, no base to review the revisions against")
            return Resolved(None)
        if not SHA.fullmatch(base_sha):
            return Resolved(None, f"the pull request's base {base_sha[:80]!r} is not a commit SHA: review skipped")
        changed = changed_since(base_sha, project_dir, workspace)
        if changed is None:
            return Resolved(None, missing_base(base_sha))
        return Resolved(Since(base_sha, changed))
    changed = changed_since(value, project_dir, workspace)
    if changed is None:  # not a commit here: a revision id, which the worker resolves (or refuses)
        log.info("since: %s is not a commit in this checkout; the worker reads it as a revision id", value)
    return Resolved(Since(value, changed))


def missing_base(sha: str) -> str:
    return (
        f"driftbot did not review this pull request's revisions: its base commit {sha} is not in this "
        "checkout. Check out with fetch-depth: 0 (actions/checkout), or fetch the base first: "
        f"git fetch --depth=1 origin {sha}"
    )  # no backticks, no final period: also the comment's note


def changed_since(ref: str, project_dir: Path, workspace: Path) -> tuple[str, ...] | None:
    """The files changed between the merge base of `ref` and HEAD, and HEAD (committed: the checkout
    is the PR's commit), relative to `project_dir`; None when `ref` is no commit of this checkout."""
    top = repository_root(project_dir, workspace)
    if top is None:
        log.info("since: %s is not in a git checkout", project_dir)
        return None
    commit = git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        return None
    base = commit.stdout.strip()
    merge_base = git(top, "merge-base", "--end-of-options", base, "HEAD")
    if merge_base.returncode == 0:
        base = merge_base.stdout.strip()
    else:  # a shallow checkout of the merge commit and the base: the base itself is the branch point
        log.debug("since: no merge base of %s and HEAD (a shallow clone?): comparing with %s itself", ref, base)
    diff = git(
        top,
        "diff-tree",
        "-r",
        "-z",
        "--name-only",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--end-of-options",
        base,
        "HEAD",
    )
    if diff.returncode != 0:
        log.warning("since: git diff-tree failed: %s", diff.stderr.strip()[:300])
        return None
    project = project_dir.resolve()
    return tuple(os.path.relpath(top / name, project) for name in diff.stdout.split("\0") if name)


def repository_root(start: Path, workspace: Path) -> Path | None:
    """The nearest directory holding `.git`, from `start` up to the workspace (never above it)."""
    limit = workspace.resolve()
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
        if candidate == limit or not candidate.is_relative_to(limit):
            return None
    return None


def git(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git, hardened as the module says, in the repository `top`."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": "/nonexistent",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_LAZY_FETCH": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_CEILING_DIRECTORIES": str(top.parent),
    }
    overrides = [arg for item in (*OVERRIDES, f"safe.directory={top}") for arg in ("-c", item)]
    try:
        return subprocess.run(
            ["git", "--no-pager", *overrides, "-C", str(top), *args],
            env=env,
            cwd=top,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("since: git could not run: %s", exc)
        return subprocess.CompletedProcess(["git", *args], 128, "", str(exc))
