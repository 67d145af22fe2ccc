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
    live: dict[str, str] = field(default_factory=dict)  # run id -> its owner, left alone by a clean of every run

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
    """Remove every labelled object, each on its own: one that cannot be removed is named in ``failed``.

    Without ``run_id``, the objects of runs whose owner is still running (a drill in another terminal, or on
    another host sharing the engine) are left alone and listed in ``live``: cleaning up after crashed runs must
    never pull a live drill's stack from under it. Naming the run removes it whatever its owner."""
    done = Cleaned()
    containers = client.containers.list(all=True, filters=_filter(run_id))
    if run_id is None:
        done.live = live_runs(containers)
    keep = set(done.live)

    def mine(objects: list[Any]) -> list[Any]:
        return [o for o in objects if (o.attrs.get("Labels") or {}).get(labels.RUN) not in keep]

    _remove_each("container", [c for c in containers if c.labels.get(labels.RUN) not in keep],
                 lambda c: c.remove(force=True, v=True), done.containers, done.failed)
    _remove_each("network", mine(client.networks.list(filters=_filter(run_id))),
                 lambda n: n.remove(), done.networks, done.failed)
    _remove_each("volume", mine(client.volumes.list(filters=_filter(run_id))),
                 lambda v: v.remove(force=True), done.volumes, done.failed)
    return done


def live_runs(containers: list[Any]) -> dict[str, str]:
    """Runs (id -> owner) with a container whose owner label names a process that may still be running."""
    out: dict[str, str] = {}
    for c in containers:
        run, owner = c.labels.get(labels.RUN), c.labels.get(labels.OWNER)
        if run and owner and labels.owner_alive(owner):
            out[run] = owner
    return out


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
