"""Connecting to the Docker engine, with an error that says what to do when it is not there."""

from __future__ import annotations

import docker.errors

import docker
from docker import DockerClient
from faultdrill.errors import InfraError


def connect(timeout: float = 120) -> DockerClient:
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise InfraError(
            f"cannot reach the Docker engine: {exc}",
            hint="start it (e.g. `dockerd &`, or `systemctl start docker`) or set DOCKER_HOST",
        ) from None
    return client


LOCAL_SCHEMES = ("http+docker://localhost", "http+docker://localnpipe")  # the SDK's unix socket / named pipe


def host_reads_ok(client: object) -> bool:
    """May a container's ``/proc/<pid>`` and network namespace be read from this host? Only when the
    engine is reached through its local socket: over ``tcp://`` or ``ssh://`` (DOCKER_HOST) its pids
    belong to another kernel — or, on this same machine, to a daemon we cannot tell apart from one —
    so readers use their in-container fallback (``docker exec``) instead. A client without an API
    address (a test's fake) counts as local."""
    base_url = getattr(getattr(client, "api", None), "base_url", None)
    return not isinstance(base_url, str) or base_url.startswith(LOCAL_SCHEMES)


def describe_engine(client: DockerClient) -> dict[str, object]:
    """run.json's ``engine``: where the stack ran and how containers' sockets were read."""
    local = host_reads_ok(client)
    return {"api": client.api.base_url, "local": local,
            "container_reads": "host: sock_diag / /proc/<pid>/net/tcp in the container's netns" if local
            else "in-container fallback: docker exec cat /proc/net/tcp (remote engine)"}
