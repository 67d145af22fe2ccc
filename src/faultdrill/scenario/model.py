"""The typed scenario model. Pure data: no Docker, no network, no files.

Everything a drill does is described here and validated before anything starts.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from faultdrill.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
NAME_RE = r"^[a-z][a-z0-9_-]{0,39}$"
Name = Annotated[str, Field(pattern=NAME_RE)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- stack
class HealthCheck(Strict):
    """How to know a service is ready. Exactly one of ``http``, ``cmd``, ``tcp``."""

    http: str | None = Field(None, description="path probed from the host on the first published port")
    cmd: list[str] | None = Field(None, description="command run inside the container; exit 0 = healthy")
    tcp: int | None = Field(None, ge=1, le=65535, description="port that must be listening inside the container")
    timeout: Seconds = 60.0
    interval: Seconds = 0.5

    @model_validator(mode="after")
    def _exactly_one(self) -> "HealthCheck":
        given = [k for k in ("http", "cmd", "tcp") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of http (a path), cmd (a command list) or tcp (a port)")
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http must be a path starting with '/', got {self.http!r}")
        return self


class MetricsEndpoint(Strict):
    path: str = "/metrics"
    port: int | None = Field(None, ge=1, le=65535)


class Service(Strict):
    image: str | None = None
    build: str | None = Field(None, description="directory with a Dockerfile, relative to the scenario file")
    command: list[str] | str | None = None
    env: dict[str, str] = {}
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    health: HealthCheck | None = None
    depends_on: list[Name] = []
    pids_limit: int | None = Field(None, ge=16)
    mem_limit: str | None = Field(None, pattern=r"^\d+[kmg]?$")
    cpus: float | None = Field(None, gt=0)
    metrics: MetricsEndpoint | None = None

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: _scalar_to_str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _image_or_build(self) -> "Service":
        if (self.image is None) == (self.build is None):
            raise ValueError("give exactly one of image (an image name) or build (a directory with a Dockerfile)")
        if self.health and self.health.http and not self.ports:
            raise ValueError("an http health check needs a published port: add ports: [PORT]")
        return self


def _scalar_to_str(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


class Stack(Strict):
    services: dict[Name, Service] = Field(min_length=1)


class Proxy(Strict):
    upstream: str = Field(pattern=r"^[A-Za-z0-9_.-]+:\d{1,5}$", description="service:port inside the stack")
    listen_port: int | None = Field(None, ge=1024, le=65535)


class ToxiproxySettings(Strict):
    server: Literal["auto", "official", "builtin"] = "auto"
    official_image: str = "ghcr.io/shopify/toxiproxy:2.12.0"


# --------------------------------------------------------------------------- load
class Stage(Strict):
    until: Seconds
    users: int = Field(ge=0, le=100_000)
    spawn_rate: float | None = Field(None, gt=0)


class Load(Strict):
    journeys: str = Field(description="builtin:NAME or a path to a locustfile")
    host: str
    shape: list[Stage] = Field(min_length=1)
    duration: Seconds | None = None
    allow_hosts: list[str] = Field([], description="non-local hosts this drill may load (explicit opt-in)")
    request_timeout: Seconds = 10.0

    @model_validator(mode="after")
    def _stages_increase(self) -> "Load":
        last = 0.0
        for i, stage in enumerate(self.shape):
            if stage.until <= last:
                raise ValueError(f"shape[{i}].until ({stage.until:g}s) must be after the previous stage ({last:g}s)")
            last = stage.until
        return self

    @property
    def total_duration(self) -> float:
        return self.duration if self.duration is not None else self.shape[-1].until


# --------------------------------------------------------------------------- faults
ToxicType = Literal["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"]

TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


class Toxic(Strict):
    """A Toxiproxy toxic. Times are durations (``200ms``, ``20s``); the engine converts units."""

    proxy: Name
    type: ToxicType
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0, le=1)
    latency: Seconds | None = None
    jitter: Seconds | None = None
    rate: int | None = Field(None, description="KB/s (1 KB = 1000 bytes)")
    delay: Seconds | None = None
    timeout: Seconds | None = None
    average_size: int | None = None
    size_variation: int | None = None
    bytes: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _attributes_fit_type(self) -> "Toxic":
        allowed = TOXIC_ATTRIBUTES[self.type]
        for attr in ("latency", "jitter", "rate", "delay", "timeout", "average_size", "size_variation", "bytes"):
            if getattr(self, attr) is not None and attr not in allowed:
                raise ValueError(f"{attr} does not apply to a {self.type} toxic; it takes: {', '.join(allowed)}")
        if self.type == "latency" and self.latency is None:
            raise ValueError("a latency toxic needs latency: e.g. latency: 200ms")
        if self.type == "bandwidth":
            if self.rate is None or self.rate <= 0:
                raise ValueError(
                    "bandwidth needs rate > 0 (KB/s); rate 0 stalls the stream forever "
                    "— use a timeout toxic to drop data instead"
                )
        if self.type == "slicer":
            if not self.average_size or self.average_size <= 0:
                raise ValueError("slicer needs average_size > 0 (bytes)")
            if self.size_variation is not None and not 0 <= self.size_variation < self.average_size:
                raise ValueError("slicer size_variation must be >= 0 and smaller than average_size")
        if self.type == "limit_data" and self.bytes is None:
            raise ValueError("limit_data needs bytes: the number of bytes to let through")
        return self

    def api_attributes(self) -> dict[str, int]:
        """Attributes in Toxiproxy's units (ms, KB/s, bytes, µs for slicer delay)."""
        out: dict[str, int] = {}
        for attr in TOXIC_ATTRIBUTES[self.type]:
            value = getattr(self, attr)
            if value is None:
                continue
            if attr in ("latency", "jitter", "timeout") or (attr == "delay" and self.type == "slow_close"):
                out[attr] = int(round(value * 1000))
            elif attr == "delay":  # slicer: microseconds
                out[attr] = int(round(value * 1_000_000))
            else:
                out[attr] = int(value)
        return out


class Fault(Strict):
    name: str = Field(min_length=1, max_length=80)
    at: Seconds
    for_: Seconds | None = Field(None, alias="for", description="how long; omitted = until the drill ends")
    toxic: Toxic

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def end(self) -> float | None:
        return None if self.for_ is None else self.at + self.for_


# --------------------------------------------------------------------------- checks and recording
Metric = Literal["p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate", "rps", "requests"]
WindowName = Literal["baseline", "fault", "recovery", "run"]


class Check(Strict):
    name: str = Field(min_length=1, max_length=120)
    metric: Metric
    window: WindowName | str = "run"
    request: str | None = Field(None, description="limit to one request name, e.g. 'GET /'")
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> "Check":
        if self.max is None and self.min is None:
            raise ValueError("a check needs a bound: max, min, or both")
        return self


class Record(Strict):
    interval: Seconds = 1.0
    results_dir: str = "results"

    @field_validator("interval")
    @classmethod
    def _interval_range(cls, value: float) -> float:
        if not 0.2 <= value <= 60:
            raise ValueError("interval must be between 200ms and 60s")
        return value


# --------------------------------------------------------------------------- scenario
class Scenario(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = ""
    stack: Stack
    proxies: dict[Name, Proxy] = {}
    toxiproxy: ToxiproxySettings = ToxiproxySettings()
    load: Load
    faults: list[Fault] = []
    checks: list[Check] = []
    record: Record = Record()

    @property
    def duration(self) -> float:
        return self.load.total_duration


REF_RE = re.compile(r"\$\{([^}]*)\}")
