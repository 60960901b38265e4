"""Which pull request a workflow run belongs to (fork PRs are not listed in its payload)."""

from __future__ import annotations

from github import Github

from driftbot.github.client import api_errors
from driftbot.github.events import WorkflowRunEvent


def find_pull_for_run(gh: Github, repository: str, run: WorkflowRunEvent) -> tuple[int | None, str | None]:
    """(number, head branch) of the open PR whose head is the run's head SHA; (None, None) if none."""
    with api_errors("find the pull request of the workflow run"):
        repo = gh.get_repo(repository)
        candidates = [repo.get_pull(n) for n in run.pull_numbers]
        if not candidates and run.head_repository and run.head_branch:
            owner = run.head_repository.split("/")[0]
            candidates = list(repo.get_pulls(state="open", head=f"{owner}:{run.head_branch}"))
        for pr in candidates:
            if pr.state == "open" and pr.head.sha == run.head_sha:
                return pr.number, pr.head.ref
    return None, None
