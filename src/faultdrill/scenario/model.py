"""The typed scenario model. Pure data: no Docker, no network, no files.

Everything a drill does is described here and validated before anything starts.
Sections live in their own modules: ``load_model`` (traffic), ``fault_model`` (faults).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from faultdrill.scenario.check_model import Abort, Check, Span
from faultdrill.scenario.common import NAME_RE, Name, Seconds, Strict
from faultdrill.scenario.docker_options import DockerOptions, NamedVolume
from faultdrill.scenario.fault_model import TOXIC_ATTRIBUTES, Fault, Toxic, ToxicType
from faultdrill.scenario.load_model import Load, Stage

__all__ = ["NAME_RE", "TOXIC_ATTRIBUTES", "Abort", "Check", "Fault", "Load", "Name", "Seconds", "Span", "Stage", "Strict", "Toxic", "ToxicType"]


# --------------------------------------------------------------------------- stack
class HealthCheck(Strict):
    """How to know a service is ready. Exactly one of ``http``, ``cmd``, ``tcp``."""

    http: str | None = Field(None, description="path probed from the host on the first published port")
    cmd: list[str] | None = Field(None, description="command run inside the container; exit 0 = healthy")
    tcp: int | None = Field(None, ge=1, le=65535, description="port that must be listening inside the container")
    timeout: Seconds = 60.0
    interval: Seconds = 0.5

    @model_validator(mode="after")
    def _exactly_one(self) -> HealthCheck:
        given = [k for k in ("http", "cmd", "tcp") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of http (a path), cmd (a command list) or tcp (a port)")
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http must be a path starting with '/', got {self.http!r}")
        return self


class MetricsEndpoint(Strict):
    """A Prometheus endpoint the recorder scrapes every interval."""

    path: str = "/metrics"
    port: int | None = Field(None, ge=1, le=65535, description="container port; default: the first published one")
    include: list[str] = Field([], description="metric name prefixes to record; empty: every gauge and counter")


class StubStatus(Strict):
    """An nginx ``stub_status`` page the recorder scrapes every interval (``ingress.csv``)."""

    port: int = Field(ge=1, le=65535, description="container port of the status page; publish it (ports)")
    path: str = "/nginx_status"


class PostgresProbe(Strict):
    """Marks a service as a PostgreSQL server for the recorder's database probe."""

    port: int = Field(5432, ge=1, le=65535)
    user: str = "postgres"
    database: str = "postgres"
    password: str | None = None


class Service(Strict):
    image: str | None = None
    build: str | None = Field(None, description="directory with a Dockerfile, relative to the scenario file")
    command: list[str] | str | None = None
    env: dict[str, str] = {}
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    health: HealthCheck | None = None
    depends_on: list[Name] = []
    aliases: list[Name] = Field([], description="more names on the run network (several services behind one name)")
    autostart: bool = Field(True, description="false: created but not started; a container fault starts it")
    pids_limit: int | None = Field(None, ge=16)
    mem_limit: str | None = Field(None, pattern=r"^\d+[kmg]?$")
    cpus: float | None = Field(None, gt=0)
    metrics: MetricsEndpoint | None = None
    postgres: PostgresProbe | None = None
    docker: DockerOptions | None = Field(None, description="more container options (entrypoint, volumes, restart, ...)")
    stub_status: StubStatus | None = Field(None, description="nginx stub_status: what reached the ingress")

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: _scalar_to_str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _image_or_build(self) -> Service:
        if (self.image is None) == (self.build is None):
            raise ValueError("give exactly one of image (an image name) or build (a directory with a Dockerfile)")
        if self.health and self.health.http and not self.ports:
            raise ValueError("an http health check needs a published port: add ports: [PORT]")
        if self.metrics is not None:
            port = self.metrics.port if self.metrics.port is not None else (self.ports[0] if self.ports else None)
            if port is None or port not in self.ports:
                raise ValueError("metrics are scraped from the host: publish their port (ports: [PORT])")
        if self.stub_status is not None and self.stub_status.port not in self.ports:
            raise ValueError(f"stub_status is scraped from the host: publish its port "
                             f"(ports: [..., {self.stub_status.port}])")
        return self


def _scalar_to_str(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


class Attach(Strict):
    """Drill a stack that is already running: Toxiproxy joins its network; nothing of it is started or removed."""

    network: str = Field(min_length=1, description="the running stack's Docker network (docker network ls)")


class Stack(Strict):
    services: dict[Name, Service] = {}
    attach: Attach | None = Field(None, description="drill an already-running stack on this network")
    volumes: dict[Name, NamedVolume] = {}
    transparent: bool = Field(False, description="proxies take their upstream's name on the run network")
    source: str | None = Field(None, description="the compose file this stack was read from")

    @field_validator("services")
    @classmethod
    def _reserved(cls, services: dict[str, Service]) -> dict[str, Service]:
        if "toxiproxy" in services:
            raise ValueError("the service name 'toxiproxy' is reserved for the stack's Toxiproxy; rename it")
        return services

    @model_validator(mode="after")
    def _services_or_attach(self) -> Stack:
        if self.attach is None and not self.services:
            raise ValueError("give services (at least one), compose: FILE, or attach: {network: NAME}")
        if self.attach is not None and (self.services or self.volumes):
            raise ValueError("attach drills a running stack as it is: drop services and volumes")
        if self.attach is not None and self.transparent:
            raise ValueError("an attached stack is not changed, so its proxies cannot take its services' names: "
                             "drop transparent (point clients at ${proxy.NAME} or load through ${proxy.NAME.url})")
        return self


class Proxy(Strict):
    upstream: str = Field(pattern=r"^[A-Za-z0-9_.-]+:\d{1,5}$", description="service:port inside the stack")
    listen_port: int | None = Field(None, ge=1024, le=65535)
    transparent: bool | None = Field(None, description="take the upstream's name (default: the stack's transparent)")


class ToxiproxySettings(Strict):
    server: Literal["auto", "official", "builtin"] = "auto"
    official_image: str = "ghcr.io/shopify/toxiproxy:2.12.0"


class ReaperSettings(Strict):
    """The reaper beside the stack: heals and removes the run if the harness dies (env: FAULTDRILL_REAPER=off,
    FAULTDRILL_REAPER_GRACE=SECONDS override these)."""

    enabled: bool = True
    grace: Seconds = Field(3.0, le=300, description="how long after the harness is lost before the reaper acts")


# --------------------------------------------------------------------------- checks and recording
class Record(Strict):
    interval: Seconds = 1.0
    results_dir: str = "results"
    connections: bool = Field(True, description="TCP connections per service by state, from each container's netns")
    resources: bool = Field(True, description="CPU, memory, pids, network per container, from Docker stats")
    app_metrics: bool = Field(True, description="scrape services that declare metrics:")
    database: bool = Field(True, description="probe services that declare postgres:")
    proxies: bool = Field(True, description="per-proxy traffic from Toxiproxy")
    ingress: bool = Field(True, description="nginx stub_status of services that declare stub_status:")
    samplers: dict[str, dict[str, Any] | None] = Field(
        {}, description="installed sampler kinds to run, each with its options (faultdrill list)")

    @field_validator("interval")
    @classmethod
    def _interval_range(cls, value: float) -> float:
        if not 0.2 <= value <= 60:
            raise ValueError("interval must be between 200ms and 60s")
        return value


class Alerts(Strict):
    """Propagation: what fires when a check breaches during the run (the alert the team would get)."""

    webhook: str | None = Field(None, pattern=r"^https?://", description="POSTed a JSON body per breach")
    command: list[str] | None = Field(None, description="run per breach; the JSON body on stdin")
    checks: list[str] | None = Field(None, description="which checks alert (default: all but baseline checks)")


# --------------------------------------------------------------------------- scenario
class Scenario(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = ""
    stack: Stack
    proxies: dict[Name, Proxy] = {}
    toxiproxy: ToxiproxySettings = ToxiproxySettings()
    reaper: ReaperSettings = ReaperSettings()
    load: Load
    faults: list[Fault] = []
    checks: list[Check] = []
    abort: list[Abort] = []
    alerts: Alerts = Alerts()
    record: Record = Record()
    requires: list[str] = Field([], description="the packages this scenario's plugins come from (pip requirements)")

    @property
    def duration(self) -> float:
        return self.load.total_duration


REF_RE = re.compile(r"\$\{([^}]*)\}")
