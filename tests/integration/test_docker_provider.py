"""The docker provider against a real Docker engine (DOCKER_HOST; the image from
DRIFTBOT_TEST_PG_IMAGE, which must honour the official postgres image's contract).

Here: `eval "$(../shared/tools/offline-docker.sh)"` starts an engine and builds local/postgres:15.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
from docker.models.containers import Container

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import libpq_conninfo
from driftbot.postgres.container import LABEL, PullProgress, docker_server

IMAGE = os.environ.get("DRIFTBOT_TEST_PG_IMAGE", "postgres:15")
BASE_IMAGE = os.environ.get("DRIFTBOT_TEST_BASE_IMAGE", "python:3.11-bookworm")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"these tests need a Docker engine (DOCKER_HOST={os.environ.get('DOCKER_HOST')}): {exc}\n"
            'start one with: eval "$(../shared/tools/offline-docker.sh)"'
        )
    try:
        engine.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} (DRIFTBOT_TEST_PG_IMAGE) is not on this engine")
    yield engine
    engine.close()


def _ours(client: docker.DockerClient, pid: int) -> list[Container]:
    return list(client.containers.list(all=True, filters={"label": f"{LABEL}.pid={pid}"}))


def _labelled(client: docker.DockerClient) -> set[str]:
    return {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"})}


def _check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftbot", "check", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_server_is_labelled_published_on_localhost_only_and_removed(client: docker.DockerClient) -> None:
    volumes_before = {v.id for v in client.volumes.list()}
    with docker_server(IMAGE, timeout=120) as server:
        [container] = _ours(client, os.getpid())
        labels = container.labels
        assert labels[LABEL] == "1" and labels[f"{LABEL}.pid"] == str(os.getpid())
        assert labels[f"{LABEL}.created"].endswith("+00:00") and labels[f"{LABEL}.host"]
        bindings = container.attrs["HostConfig"]["PortBindings"]["5432/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        assert server.admin_url.host == "127.0.0.1"
        assert server.admin_url.port == int(container.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"])
        assert server.provider == "docker" and server.major == 15
        with psycopg.connect(libpq_conninfo(server.admin_url)) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert len(server.admin_url.password or "") == 32
        name = container.name
    assert _ours(client, os.getpid()) == []
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)
    assert {v.id for v in client.volumes.list()} <= volumes_before  # anonymous volumes went with it


def test_container_is_removed_when_the_run_fails(client: docker.DockerClient) -> None:
    with pytest.raises(RuntimeError, match="boom"), docker_server(IMAGE, timeout=120):
        assert len(_ours(client, os.getpid())) == 1
        raise RuntimeError("boom")
    assert _ours(client, os.getpid()) == []


def test_check_in_docker_finds_the_drift_and_records_the_version(
    client: docker.DockerClient, make_project: Callable[[str], Path]
) -> None:
    project = make_project("column_missing")
    before = _labelled(client)
    out = _check(str(project), "--postgres", "docker", "--postgres-image", IMAGE, "--no-suggest", "--format", "json")
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["postgres"]["provider"] == "docker"
    assert report["postgres"]["version"].startswith("15.")
    assert [f["kind"] for f in report["findings"]] == ["column_missing"]
    assert _labelled(client) <= before  # the run's container is gone


def test_a_version_the_image_does_not_run_is_an_error(
    client: docker.DockerClient, make_project: Callable[[str], Path]
) -> None:
    out = _check(
        str(make_project("column_missing")),
        "--postgres",
        "docker",
        "--postgres-image",
        IMAGE,
        "--postgres-version",
        "16",
    )
    assert out.returncode == 4
    assert f"--postgres-version 16 was asked for, but {IMAGE} runs PostgreSQL 15." in out.stdout


def test_a_missing_image_without_a_registry_is_one_clear_exit_4_error(
    client: docker.DockerClient, make_project: Callable[[str], Path]
) -> None:
    image = "local/driftbot-test-no-such-image:1"
    out = _check(str(make_project("column_missing")), "--postgres", "docker", "--postgres-image", image)
    assert out.returncode == 4, out.stdout + out.stderr
    assert f"pulling Docker image {image}" in out.stderr  # progress goes to stderr
    assert f"Docker image {image} is not on this machine and could not be pulled" in out.stdout
    assert f"docker pull {image}" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_a_server_that_is_not_ready_in_time_is_a_clear_error_and_is_removed(
    client: docker.DockerClient, make_project: Callable[[str], Path]
) -> None:
    out = _check(
        str(make_project("column_missing")),
        "--postgres",
        "docker",
        "--postgres-image",
        IMAGE,
        "--postgres-timeout",
        "0.2",
        "--debug",
    )
    assert out.returncode == 4
    assert "did not accept connections within 0.2s" in out.stdout
    assert "--postgres-timeout SECONDS" in out.stdout
    assert "removed container driftbot-pg-" in out.stderr


def _start_slow(project: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftbot",
            "check",
            str(project),
            "--postgres",
            "docker",
            "--postgres-image",
            IMAGE,
            "--debug",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # see test_signals
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "migration running" in line:
            return proc, seen
    proc.kill()
    pytest.fail("never saw the migration start:\n" + "".join(seen))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_container_is_removed_on_sigterm_and_ctrl_c(
    client: docker.DockerClient, make_project: Callable[[str], Path], signum: int
) -> None:
    proc, seen = _start_slow(make_project("slow_migration"))
    assert len(_ours(client, proc.pid)) == 1
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == (143 if signum == signal.SIGTERM else 130), "".join(seen) + out
    assert "Traceback" not in out
    assert _ours(client, proc.pid) == []


def test_cleanup_removes_containers_of_killed_runs_and_keeps_live_ones(
    client: docker.DockerClient, make_project: Callable[[str], Path]
) -> None:
    proc, _ = _start_slow(make_project("slow_migration"))
    [container] = _ours(client, proc.pid)
    cleanup = [sys.executable, "-m", "driftbot", "cleanup"]
    kept = subprocess.run(cleanup, capture_output=True, text=True, timeout=60)
    assert f"kept container {container.name}: driftbot process {proc.pid} is still running" in kept.stdout
    assert len(_ours(client, proc.pid)) == 1
    proc.kill()  # SIGKILL: the run cannot clean up
    proc.communicate(timeout=30)
    assert len(_ours(client, proc.pid)) == 1
    dry = subprocess.run([*cleanup, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert f"would remove container {container.name}" in dry.stdout and len(_ours(client, proc.pid)) == 1
    done = subprocess.run(cleanup, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed container {container.name}" in done.stdout
    assert _ours(client, proc.pid) == []


@pytest.fixture
def network(client: docker.DockerClient) -> Iterator[str]:
    net = client.networks.create(f"driftbot-test-{os.getpid()}", labels={"driftbot-test": "1"})
    try:
        yield str(net.name)
    finally:
        net.reload()
        for c in net.containers:  # whatever a failed test left on it
            c.remove(force=True)
        net.remove()


@pytest.mark.parametrize("network_kind", ["user-defined", "bridge"])
def test_inside_a_container_the_server_joins_its_network(
    client: docker.DockerClient, network: str, make_project: Callable[[str], Path], network_kind: str
) -> None:
    """driftbot as a GitHub container action runs: in a container, the engine's socket mounted.
    A published 127.0.0.1 port is unreachable from there; the server must join driftbot's network."""
    project = make_project("column_missing")
    socket_path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    site = next(Path(sys.prefix).glob("lib/python3.*/site-packages"))
    out = client.containers.run(
        BASE_IMAGE,
        [
            "python3",
            "-m",
            "driftbot",
            "check",
            "/project",
            "--postgres",
            "docker",
            "--postgres-image",
            IMAGE,
            "--no-suggest",
            "--format",
            "json",
            "--debug",
        ],
        volumes={
            socket_path: {"bind": "/var/run/docker.sock", "mode": "rw"},
            str(REPO): {"bind": "/driftbot", "mode": "ro"},
            str(site): {"bind": "/site", "mode": "ro"},
            str(project): {"bind": "/project", "mode": "rw"},
        },
        environment={"PYTHONPATH": "/driftbot:/site", "HOME": "/tmp"},
        network=network if network_kind == "user-defined" else "bridge",
        labels={"driftbot-test": "1"},
        remove=False,
        detach=True,
    )
    host = out.id[:12]  # Docker's default hostname
    try:
        code = out.wait(timeout=300)["StatusCode"]
        stdout = out.logs(stdout=True, stderr=False).decode()
        stderr = out.logs(stdout=False, stderr=True).decode()
    finally:
        out.remove(force=True)
    assert code == 1, stdout + stderr
    report: dict[str, Any] = json.loads(stdout)
    assert report["postgres"]["provider"] == "docker"
    assert [f["kind"] for f in report["findings"]] == ["column_missing"]
    ready = next(line for line in stderr.splitlines() if "docker PostgreSQL" in line and "ready in container" in line)
    address = ready.rsplit(" at ", 1)[1]
    assert not address.startswith("127.0.0.1:") and address.endswith(":5432"), ready
    # what driftbot started from inside that container (its hostname is the container's short id) is
    # gone; other tests' servers may come and go meanwhile (the docker provider runs in parallel)
    started_there = client.containers.list(all=True, filters={"label": [f"{LABEL}=1", f"{LABEL}.host={host}"]})
    assert started_there == []


def test_pull_progress_sums_the_layers() -> None:
    progress = PullProgress("postgres:16")
    for event in [
        {"status": "Pulling from library/postgres", "id": "16"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "a"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "b"},
        {"status": "Downloading", "progressDetail": {"current": 1_000_000, "total": 4_000_000}, "id": "a"},
        {"status": "Downloading", "progressDetail": {"current": 500_000, "total": 1_000_000}, "id": "b"},
        {"status": "Download complete", "progressDetail": {}, "id": "b"},
        {"status": "Pull complete", "progressDetail": {}, "id": "b"},
    ]:
        progress.update(event)
    assert progress.line() == "driftbot: pulling postgres:16: 1/2 layers, 2.0/5.0 MB"


def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with (
        pytest.raises(
            InfrastructureError, match=re.escape("no Docker engine answers at unix:///nonexistent/docker.sock")
        ),
        docker_server(IMAGE),
    ):
        pass
