"""A service's extra container options (``docker:`` in the model, mostly from compose) as Docker SDK
arguments, and the named volumes a stack uses: created for the run, or the user's own (external)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker.errors
from docker.models.containers import Container
from docker.types import Mount as DockerMount

from docker import DockerClient
from faultdrill.errors import InfraError
from faultdrill.scenario.docker_options import DockerOptions, NamedVolume
from faultdrill.stack import labels
from faultdrill.stack.health import container_log_tail

COMPLETION_TIMEOUT_S = 300.0


def volume_name(run_id: str, name: str, spec: NamedVolume) -> str:
    return (spec.name or name) if spec.external else f"fd-{run_id}-{name}"


def create_kwargs(options: DockerOptions | None, volume_names: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for ``containers.run``/``create``; only what is set."""
    if options is None:
        return {}
    out: dict[str, Any] = {}
    if options.entrypoint is not None:
        out["entrypoint"] = options.entrypoint
    if options.working_dir:
        out["working_dir"] = options.working_dir
    if options.user:
        out["user"] = options.user
    if options.init is not None:
        out["init"] = options.init
    if options.restart and options.restart != "no":
        out["restart_policy"] = {"Name": options.restart}
    mounts = []
    for mount in options.volumes:
        source = volume_names.get(mount.source, mount.source) if mount.type == "volume" and mount.source else mount.source
        mounts.append(DockerMount(mount.target, source, type=mount.type, read_only=mount.read_only))
    if mounts:
        out["mounts"] = mounts
    return out


def ensure_volumes(client: DockerClient, run_id: str, volumes: dict[str, NamedVolume]) -> tuple[dict[str, str], list[Any]]:
    """Docker volume name per stack volume, and the volumes created for this run (to remove at teardown)."""
    names: dict[str, str] = {}
    created = []
    for name, spec in volumes.items():
        docker_name = volume_name(run_id, name, spec)
        names[name] = docker_name
        if spec.external:
            try:
                client.volumes.get(docker_name)
            except docker.errors.NotFound:
                raise InfraError(f"external volume {docker_name!r} does not exist",
                                 hint=f"create it (docker volume create {docker_name}) or drop external: true") from None
            continue
        created.append(client.volumes.create(docker_name, labels=labels.run_labels(run_id, "volume", name)))
    return names, created


def wait_completed(name: str, container: Container, timeout: float = COMPLETION_TIMEOUT_S,
                   sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait for a one-shot service (a dependency with service_completed_successfully) to exit 0."""
    start = time.monotonic()
    while True:
        container.reload()
        state = container.attrs.get("State", {})
        if state.get("Status") in ("exited", "dead"):
            code = state.get("ExitCode")
            if code == 0:
                return time.monotonic() - start
            raise InfraError(f"service {name!r} exited with code {code}; services wait for it to complete successfully\n"
                             f"--- last log lines of {name} ---\n{container_log_tail(container)}")
        if time.monotonic() - start > timeout:
            raise InfraError(f"service {name!r} did not complete within {timeout:g}s")
        sleep(0.3)
