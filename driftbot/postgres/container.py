"""The `docker` provider: PostgreSQL in a throwaway container, through the Docker SDK.

The image is the official `postgres:<version>` unless one is named; it must honour that
image's contract (POSTGRES_PASSWORD, PGDATA, arguments passed to `postgres`). The port is
published on 127.0.0.1 only, on a random host port. When driftbot itself runs in a container
with the engine's socket mounted (a GitHub container action), a published port is not
reachable from here: the server joins a network of driftbot's own container instead and is
reached at its address there. The container is labelled (`driftbot=1`, `driftbot.pid`,
`driftbot.host`, `driftbot.created`) and removed with its volumes on success, error, Ctrl-C and
SIGTERM; `driftbot cleanup` removes what a killed run left behind.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psycopg
from sqlalchemy.engine import URL

from driftbot.errors import InfrastructureError
from driftbot.postgres.base import DRIVER, Server, first_line
from driftbot.postgres.local import THROWAWAY_SETTINGS

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

log = logging.getLogger(__name__)

DEFAULT_VERSION = 17
LABEL = "driftbot"
NETWORK_ENV = "DRIFTBOT_DOCKER_NETWORK"  # join this network instead of publishing a port
# In a container the server must listen on its network address: everything else as locally.
CONTAINER_SETTINGS = {k: v for k, v in THROWAWAY_SETTINGS.items() if k != "listen_addresses"}


def image_for(version: int | None, image: str | None) -> str:
    return image or f"postgres:{version or DEFAULT_VERSION}"


def connect(timeout: float = 60) -> DockerClient:
    """A client for the engine DOCKER_HOST (or the default socket) names, which answered a ping."""
    try:
        import docker
    except ImportError as exc:  # only without the dependency, e.g. a trimmed install
        raise InfrastructureError("the docker provider needs the Docker SDK", hint="pip install docker") from exc
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    hint = "start Docker (or set DOCKER_HOST), or choose another --postgres"
    if where.startswith("unix://") and not Path(where.removeprefix("unix://")).exists():
        # no socket, no engine: say so without the SDK's connection attempt (and its error text)
        raise InfrastructureError(f"no Docker engine answers at {where}: no such socket", hint=hint)
    client = None
    try:
        client = docker.from_env(timeout=max(1, int(timeout)))
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' errors, OSError...
        if client is not None:
            client.close()
        raise InfrastructureError(f"no Docker engine answers at {where}: {first_line(exc)}", hint=hint) from exc
    return client


def engine_answers() -> bool:
    """Whether `auto` may use Docker: the SDK is there and an engine answers within seconds."""
    try:
        connect(timeout=3).close()
    except InfrastructureError as exc:
        log.debug("docker: %s", exc.message)
        return False
    return True


@contextmanager
def docker_server(image: str, *, timeout: float = 60) -> Iterator[Server]:
    client = connect()
    try:
        _ensure_image(client, image)
        network = _own_network(client)
        password = secrets.token_hex(16)
        name = f"driftbot-pg-{os.getpid()}-{secrets.token_hex(4)}"
        container: Container | None = None
        try:
            container = _run(client, image, name, password, network)
            host, port = _address(container, network)
            url = URL.create(DRIVER, username="postgres", password=password, host=host, port=port, database="postgres")
            version = _wait_ready(container, url, timeout, image)
            log.debug("docker PostgreSQL %s ready in container %s (%s) at %s:%s", version, name, image, host, port)
            yield Server(admin_url=url, provider="docker", version=version)
        finally:
            _remove(client, container, name)
    finally:
        client.close()


def _ensure_image(client: DockerClient, image: str) -> None:
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    except Exception as exc:
        raise InfrastructureError(f"cannot inspect Docker image {image}: {first_line(exc)}") from exc
    try:
        pull(client, image, sys.stderr)
    except InfrastructureError:
        raise
    except Exception as exc:
        raise InfrastructureError(
            f"Docker image {image} is not on this machine and could not be pulled: {_reason(exc)}",
            hint=f"check the name, log in to its registry, or load it first (docker pull {image})",
        ) from exc


def pull(client: DockerClient, image: str, out: IO[str]) -> None:
    """Pull `image`, showing progress on `out` (a line per update on a terminal, else every few seconds)."""
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(image)
    progress = PullProgress(image)
    started = time.monotonic()
    last_shown = 0.0
    interactive = out.isatty()
    out.write(f"driftbot: pulling Docker image {image}\n")
    for event in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
        if "error" in event:
            raise InfrastructureError(
                f"Docker image {image} could not be pulled: {event['error']}",
                hint=f"check the name, log in to its registry, or load it first (docker pull {image})",
            )
        progress.update(event)
        now = time.monotonic()
        if now - last_shown >= (0.2 if interactive else 5.0):
            last_shown = now
            out.write(("\r" if interactive else "") + progress.line() + ("" if interactive else "\n"))
            out.flush()
    out.write(("\r" if interactive else "") + f"driftbot: pulled {image} in {time.monotonic() - started:.0f}s\n")
    out.flush()


class PullProgress:
    """Sums the per-layer events of an image pull into one line."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.layers: dict[str, tuple[str, int, int]] = {}  # id -> (status, current, total)

    def update(self, event: dict[str, Any]) -> None:
        layer = event.get("id")
        status = str(event.get("status", ""))
        if not layer or status.startswith(("Pulling from", "Digest", "Status")):
            return
        detail = event.get("progressDetail") or {}
        _, current, total = self.layers.get(layer, ("", 0, 0))
        if status == "Downloading":
            current, total = int(detail.get("current", current)), int(detail.get("total", total))
        elif status in ("Download complete", "Pull complete", "Already exists", "Extracting", "Verifying Checksum"):
            current = total
        self.layers[layer] = (status, current, total)

    def line(self) -> str:
        done = sum(1 for status, _, _ in self.layers.values() if status in ("Pull complete", "Already exists"))
        current = sum(c for _, c, _ in self.layers.values())
        total = sum(t for _, _, t in self.layers.values())
        size = f", {current / 1e6:.1f}/{total / 1e6:.1f} MB" if total else ""
        return f"driftbot: pulling {self.image}: {done}/{len(self.layers)} layers{size}"


def running_in_container() -> bool:
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    with suppress(OSError):
        cgroup = Path("/proc/1/cgroup").read_text()
        return any(word in cgroup for word in ("docker", "containerd", "kubepods", "libpod"))
    return False


def _own_network(client: DockerClient) -> str | None:
    """The network to put the server on when driftbot itself runs in a container of this engine."""
    if env := os.environ.get(NETWORK_ENV):
        return env
    if not running_in_container():
        return None
    from docker.errors import NotFound

    try:  # a container's hostname is its short id unless it was given another
        me = client.containers.get(socket.gethostname())
    except NotFound:
        log.debug("docker: this is a container, but not one of this engine: publishing the port")
        return None
    except Exception as exc:
        log.debug("docker: cannot inspect this container (%s): publishing the port", first_line(exc))
        return None
    mode = str(me.attrs.get("HostConfig", {}).get("NetworkMode", ""))
    networks = list(me.attrs.get("NetworkSettings", {}).get("Networks") or {})
    if mode == "host" or mode.startswith("container:") or not networks:
        return None
    return mode if mode in networks else networks[0]


def _run(client: DockerClient, image: str, name: str, password: str, network: str | None) -> Container:
    pgdata = _image_pgdata(client, image)
    labels = {
        LABEL: "1",
        f"{LABEL}.pid": str(os.getpid()),
        f"{LABEL}.host": socket.gethostname(),
        f"{LABEL}.created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    command = [arg for key, value in CONTAINER_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
    environment = {
        "POSTGRES_PASSWORD": password,
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "POSTGRES_INITDB_ARGS": "--no-sync",
    }
    options: dict[str, Any] = {"network": network} if network else {"ports": {"5432/tcp": ("127.0.0.1", None)}}
    try:
        return client.containers.run(
            image,
            command=command,
            name=name,
            detach=True,
            labels=labels,
            environment=environment,
            # the data directory lives in memory: a throwaway server never needs it on disk
            tmpfs={pgdata: "rw"} if pgdata else {},
            **options,
        )
    except Exception as exc:
        raise InfrastructureError(f"cannot start a container from {image}: {_reason(exc)}") from exc


def _image_pgdata(client: DockerClient, image: str) -> str | None:
    """PGDATA as the image declares it (it moved with postgres:18)."""
    env = client.images.get(image).attrs.get("Config", {}).get("Env") or []
    return next((e.split("=", 1)[1] for e in env if e.startswith("PGDATA=")), None)


def _address(container: Container, network: str | None) -> tuple[str, int]:
    deadline = time.monotonic() + 10
    while True:
        container.reload()
        settings = container.attrs.get("NetworkSettings", {})
        if network:
            address = (settings.get("Networks") or {}).get(network, {}).get("IPAddress")
            if address:
                return str(address), 5432
        else:
            bindings = (settings.get("Ports") or {}).get("5432/tcp") or []
            for binding in bindings:
                if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                    return "127.0.0.1", int(binding["HostPort"])
        if container.status in ("exited", "dead") or time.monotonic() > deadline:
            raise InfrastructureError(
                f"container {container.name} got no address"
                f"{f' on network {network}' if network else ''}:\n{_logs(container)}"
            )
        time.sleep(0.05)


def _wait_ready(container: Container, url: URL, timeout: float, image: str) -> str:
    deadline = time.monotonic() + timeout
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    checks = 0
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=2) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                assert row is not None
                return str(row[0]).split(" ")[0]
        except psycopg.OperationalError:
            pass
        checks += 1
        if checks % 10 == 0:
            container.reload()
            if container.status in ("exited", "dead"):
                raise InfrastructureError(
                    f"PostgreSQL's container ({image}) exited while starting:\n{_logs(container)}"
                )
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"PostgreSQL in a container of {image} did not accept connections within "
                f"{timeout:g}s:\n{_logs(container)}",
                hint="a slow machine or a first start may need more: --postgres-timeout SECONDS",
            )
        time.sleep(0.05)


def _reason(exc: Exception) -> str:
    """The engine's own words (an APIError's explanation), not the HTTP request that carried them."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation) if explanation else first_line(exc)


def _logs(container: Container) -> str:
    with suppress(Exception):
        return str(container.logs(tail=20).decode(errors="replace")).rstrip()
    return "(no logs)"


def _remove(client: DockerClient, container: Container | None, name: str) -> None:
    """Remove the container and its anonymous volumes, also one whose creation was interrupted."""
    from docker.errors import NotFound

    try:
        target = container if container is not None else client.containers.get(name)
        target.remove(force=True, v=True)
        log.debug("removed container %s", name)
    except NotFound:
        pass
    except Exception as exc:
        log.warning("could not remove container %s (%s); `driftbot cleanup` removes it", name, first_line(exc))
