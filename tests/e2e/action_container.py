"""The action's container, built from the real Dockerfile and run the way the GitHub runner runs it.

The runner's `docker run` for a container action: the workspace mounted at /github/workspace
(also the working directory), the event at /github/workflow/event.json, the file commands
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) under /github/file_commands, HOME=/github/home, every
`GITHUB_*` variable, and one `INPUT_<NAME>` per input of action.yml (hyphens kept, defaults
filled in). Here the container joins the host's network so that it reaches the fake GitHub
on 127.0.0.1.

Needs a Docker engine: `eval "$(../shared/tools/offline-docker.sh)"` starts one and builds a
base image where no registry is reachable (DRIFTBOT_TEST_BASE_IMAGE).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "driftbot-action:test"
BASE_IMAGE = os.environ.get("DRIFTBOT_TEST_BASE_IMAGE", "python:3.12-slim-bookworm")
TIMINGS: dict[str, float] = {}  # build and run seconds, for the test report


def docker(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@cache
def action_image() -> str:
    """Build the Dockerfile once per test session (Docker's layer cache makes a rebuild quick)."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    except FileNotFoundError:
        pytest.fail('no docker CLI: run `eval "$(../shared/tools/offline-docker.sh)"` first')
    if info.returncode != 0:
        pytest.fail(
            f'no Docker engine answers ({info.stderr.strip()}): run `eval "$(../shared/tools/offline-docker.sh)"` first'
        )
    started = time.monotonic()
    built = docker("build", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", IMAGE, str(REPO))
    TIMINGS["build"] = time.monotonic() - started
    assert built.returncode == 0, f"docker build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"
    return IMAGE


def action_inputs() -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    return inputs


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    seconds: float


@dataclass
class ActionRunner:
    """A runner's view of one job: a workspace, and a `run` per step of the action."""

    root: Path
    token: str
    api_url: str
    repository: str = "octo/shop"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    def run(
        self,
        event_name: str,
        payload: dict[str, Any],
        inputs: dict[str, str] | None = None,
        *,
        sha: str | None = None,
        user: str | None = None,
        network: str = "host",
        docker_socket: bool = False,
        timeout: float = 600,
    ) -> Run:
        image = action_image()
        step = uuid.uuid4().hex
        for name in ("workspace", "workflow", "file_commands", "home"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / name, 0o777 if user else 0o755)
        (self.root / "workflow" / "event.json").write_text(json.dumps(payload))
        output, summary = f"set_output_{step}", f"step_summary_{step}"
        for name in (output, summary):
            (self.root / "file_commands" / name).touch()
            os.chmod(self.root / "file_commands" / name, 0o666)
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "HOME": "/github/home",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": "/github/workflow/event.json",
            "GITHUB_WORKSPACE": "/github/workspace",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_GRAPHQL_URL": f"{self.api_url}/graphql",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": sha or "0" * 40,
            "GITHUB_REF": "refs/pull/1/merge",
            "GITHUB_ACTOR": "alice",
            "GITHUB_OUTPUT": f"/github/file_commands/{output}",
            "GITHUB_STEP_SUMMARY": f"/github/file_commands/{summary}",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": "/home/runner/work/_temp",
            **self.env,
        }
        given = {"github-token": self.token, **(inputs or {})}
        for name, spec in action_inputs().items():
            default = str(spec.get("default", ""))
            env[f"INPUT_{name.upper()}"] = given.get(name, "" if "${{" in default else default)
        args = [
            "run",
            "--rm",
            "--network",
            network,
            "--workdir",
            "/github/workspace",
            "-v",
            f"{self.root / 'workspace'}:/github/workspace",
            "-v",
            f"{self.root / 'workflow'}:/github/workflow",
            "-v",
            f"{self.root / 'file_commands'}:/github/file_commands",
            "-v",
            f"{self.root / 'home'}:/github/home",
        ]
        if user:
            args += ["--user", user]
        if docker_socket:  # the runner mounts the engine's socket into every container action
            args += ["-v", "/var/run/docker.sock:/var/run/docker.sock"]
        for name in env:
            args += ["-e", name]  # values through the environment, as the runner does: not on a command line
        started = time.monotonic()
        done = subprocess.run(
            ["docker", *args, image],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env},
            check=False,
        )
        seconds = time.monotonic() - started
        TIMINGS.setdefault("runs", 0.0)
        TIMINGS["runs"] += seconds
        return Run(
            done.returncode,
            done.stdout,
            done.stderr,
            parse_outputs((self.root / "file_commands" / output).read_text()),
            (self.root / "file_commands" / summary).read_text(),
            seconds,
        )


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's format: `name=value` lines, or `name<<DELIMITER` ... `DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[name] = "\n".join(value)
        elif "=" in line:
            name, value_ = line.split("=", 1)
            outputs[name] = value_
    return outputs
