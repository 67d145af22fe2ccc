"""Container options beyond the built-in stack's basics, mostly what a compose file carries.

Pure data, validated like the rest of the scenario. ``stack/container_options.py`` turns
them into Docker SDK arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from faultdrill.scenario.common import Strict


class BuildOptions(Strict):
    """How to build a service's image beyond its context directory (``build:`` in compose)."""

    dockerfile: str | None = Field(None, description="path of the Dockerfile, relative to the context")
    args: dict[str, str] = {}
    target: str | None = None


class Mount(Strict):
    """A bind mount (a host path, mounted as given and never written by faultdrill) or a named volume."""

    type: Literal["bind", "volume", "tmpfs"]
    source: str | None = Field(None, description="host path (bind) or a stack.volumes name (volume)")
    target: str
    read_only: bool = False

    @model_validator(mode="after")
    def _source(self) -> Mount:
        if self.type == "bind" and not self.source:
            raise ValueError("a bind mount needs a source path")
        return self


class NamedVolume(Strict):
    """A volume the stack uses. Not external: created for the run and removed with it.
    External: the user's own, used as it is and never removed."""

    external: bool = False
    name: str | None = Field(None, description="the Docker volume's name (external volumes)")


class DockerOptions(Strict):
    entrypoint: list[str] | str | None = None
    working_dir: str | None = None
    user: str | None = None
    init: bool | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] | None = None
    volumes: list[Mount] = []
    build: BuildOptions | None = None
    completes: bool = Field(False, description="a one-shot job: wait for it to exit 0 instead of for health")
