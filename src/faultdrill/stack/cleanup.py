"""Removing whatever runs left behind: containers, networks, volumes labelled ``faultdrill.run``."""

from __future__ import annotations

from dataclasses import dataclass, field

import docker.errors
from docker import DockerClient

from faultdrill.stack import labels


@dataclass
class Cleaned:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)


def _filter(run_id: str | None) -> dict[str, list[str]]:
    return {"label": [f"{labels.RUN}={run_id}" if run_id else labels.RUN]}


def leftovers(client: DockerClient, run_id: str | None = None) -> Cleaned:
    found = Cleaned()
    found.containers = [c.name for c in client.containers.list(all=True, filters=_filter(run_id))]
    found.networks = [n.name for n in client.networks.list(filters=_filter(run_id))]
    found.volumes = [v.name for v in client.volumes.list(filters=_filter(run_id))]
    return found


def clean(client: DockerClient, run_id: str | None = None) -> Cleaned:
    done = Cleaned()
    for container in client.containers.list(all=True, filters=_filter(run_id)):
        try:
            container.remove(force=True, v=True)
            done.containers.append(container.name)
        except docker.errors.NotFound:
            pass
    for network in client.networks.list(filters=_filter(run_id)):
        try:
            network.remove()
            done.networks.append(network.name)
        except docker.errors.NotFound:
            pass
    for volume in client.volumes.list(filters=_filter(run_id)):
        try:
            volume.remove(force=True)
            done.volumes.append(volume.name)
        except docker.errors.NotFound:
            pass
    return done
