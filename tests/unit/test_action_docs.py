"""action.yml, README, Settings, the Dockerfile and the example workflows agree with each other."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftbot import __version__
from driftbot.action.settings import input_names

ROOT = Path(__file__).resolve().parents[2]
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))


def test_readme_tables_are_generated_from_action_yml() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "action_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    readme = (ROOT / "README.md").read_text()
    for name in [*ACTION["inputs"], *ACTION["outputs"]]:
        assert f"| `{name}` |" in readme


def test_every_input_is_a_settings_field_and_back() -> None:
    assert set(ACTION["inputs"]) == set(input_names())
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), f"{name} has no description"
        assert "default" in spec, f"{name} has no default (the runner passes it even when unset)"
    assert ACTION["inputs"]["github-token"]["default"] == "${{ github.token }}"


def test_every_output_is_set_by_the_action() -> None:
    source = (ROOT / "driftbot" / "action" / "publish.py").read_text()
    for name in ACTION["outputs"]:
        assert f'"{name}":' in source, f"output {name} is never set"


def test_action_is_a_container_action_built_from_the_dockerfile() -> None:
    assert ACTION["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert ACTION["branding"]["icon"] and ACTION["branding"]["color"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.\d+-slim-bookworm$", dockerfile, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.M)
    assert not re.search(r"^USER\b", dockerfile, re.M), "container actions must run as root"
    assert re.search(r'^ENTRYPOINT \["/[^"]+", "/app/entrypoint.py"\]$', dockerfile, re.M)
    assert len((ROOT / "entrypoint.py").read_text().strip().splitlines()) <= 3


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_follow_least_privilege_and_pin_actions(path: Path) -> None:
    text = path.read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the `on:` key as True
    assert "pull_request_target" not in triggers
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert job.get("permissions"), f"job {name} must declare its permissions"
        assert "write-all" not in str(job["permissions"])
        for step in job["steps"]:
            uses = step.get("uses")
            if uses is None:
                continue
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
                # jobs that run with a write token on behalf of a PR never check out (its) code
                assert "workflow_run" not in triggers and "issue_comment" not in triggers
            if uses.startswith("driftbot/driftbot@"):
                assert uses == f"driftbot/driftbot@v{__version__}"
            else:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{uses} is not pinned to a commit"
                assert re.search(re.escape(uses) + r"\s+# v\d+\.\d+\.\d+", text), f"{uses} has no version comment"


def test_example_workflows_pass_zizmor() -> None:
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    done = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--config", str(ROOT / "examples" / "zizmor.yml"), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout + done.stderr
