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
