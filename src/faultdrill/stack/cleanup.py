"""Removing whatever runs left behind: containers, networks, volumes labelled ``faultdrill.run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from docker import DockerClient
from faultdrill.stack import labels


@dataclass
class Cleaned:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "container NAME: why", for what could not be removed

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes)


def _filter(run_id: str | None) -> dict[str, str | list[str] | bool]:
    return {"label": [f"{labels.RUN}={run_id}" if run_id else labels.RUN]}


def leftovers(client: DockerClient, run_id: str | None = None) -> Cleaned:
    found = Cleaned()
    found.containers = [str(c.name) for c in client.containers.list(all=True, filters=_filter(run_id))]
    found.networks = [str(n.name) for n in client.networks.list(filters=_filter(run_id))]
    found.volumes = [v.name for v in client.volumes.list(filters=_filter(run_id))]
    return found


def clean(client: DockerClient, run_id: str | None = None) -> Cleaned:
    """Remove every labelled object, each on its own: one that cannot be removed is named in ``failed``."""
    done = Cleaned()
    _remove_each("container", client.containers.list(all=True, filters=_filter(run_id)),
                 lambda c: c.remove(force=True, v=True), done.containers, done.failed)
    _remove_each("network", client.networks.list(filters=_filter(run_id)),
                 lambda n: n.remove(), done.networks, done.failed)
    _remove_each("volume", client.volumes.list(filters=_filter(run_id)),
                 lambda v: v.remove(force=True), done.volumes, done.failed)
    return done


def _remove_each(kind: str, objects: list[Any], remove: Callable[[Any], None], removed: list[str],
                 failed: list[str]) -> None:
    for obj in objects:
        try:
            remove(obj)
            removed.append(obj.name)
        except docker.errors.NotFound:
            pass  # gone already: what we wanted
        except docker.errors.APIError as exc:
            failed.append(f"{kind} {obj.name}: {exc.explanation or exc}")
