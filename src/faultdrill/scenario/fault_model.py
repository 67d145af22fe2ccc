"""The ``faults`` section of a scenario: what breaks, when, for how long."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from faultdrill.scenario.common import Name, Seconds, Strict

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
    def _attributes_fit_type(self) -> Toxic:
        allowed = TOXIC_ATTRIBUTES[self.type]
        for attr in ("latency", "jitter", "rate", "delay", "timeout", "average_size", "size_variation", "bytes"):
            if getattr(self, attr) is not None and attr not in allowed:
                raise ValueError(f"{attr} does not apply to a {self.type} toxic; it takes: {', '.join(allowed)}")
        if self.type == "latency" and self.latency is None:
            raise ValueError("a latency toxic needs latency: e.g. latency: 200ms")
        if self.type == "bandwidth" and (self.rate is None or self.rate <= 0):
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
                out[attr] = round(value * 1000)
            elif attr == "delay":  # slicer: microseconds
                out[attr] = round(value * 1_000_000)
            else:
                out[attr] = int(value)
        return out


class ProxyFault(Strict):
    """Take a proxy down (connections refused, open ones closed) or point it at another upstream."""

    proxy: Name
    action: Literal["down", "upstream"]
    upstream: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+:\d{1,5}$",
                                 description="service:port, for action: upstream")

    @model_validator(mode="after")
    def _upstream_given(self) -> ProxyFault:
        if (self.action == "upstream") != (self.upstream is not None):
            raise ValueError("action: upstream needs upstream: SERVICE:PORT (and action: down takes none)")
        return self


class ContainerFault(Strict):
    """What Pumba does: kill / stop / pause / restart a service's container (healing starts or
    unpauses it), or ``start`` one created with ``autostart: false`` (adding capacity mid-drill;
    healing stops it again)."""

    service: Name
    action: Literal["kill", "stop", "pause", "restart", "start"]
    signal: str = Field("SIGKILL", pattern=r"^SIG[A-Z0-9]+$", description="for action: kill")


class SqlFault(Strict):
    """Run statements against a PostgreSQL service; with ``hold``, inside one transaction kept open
    for the fault's duration (e.g. ``LOCK TABLE events IN EXCLUSIVE MODE``: write contention on demand)."""

    service: Name
    statements: list[str] = Field(min_length=1)
    hold: bool = True
    user: str | None = None
    database: str | None = None


class ExecFault(Strict):
    """Run a command inside a service's container at the start; ``undo`` (if given) at the end."""

    service: Name
    command: list[str] = Field(min_length=1)
    undo: list[str] | None = None


class StressFault(Strict):
    """CPU or memory pressure inside a service's container (busy loops / a held allocation)."""

    service: Name
    cpu: int = Field(0, ge=0, le=64, description="busy processes to start")
    memory: str | None = Field(None, pattern=r"^\d+[kmg]?$", description="memory to hold, e.g. 256m")

    @model_validator(mode="after")
    def _something(self) -> StressFault:
        if not self.cpu and not self.memory:
            raise ValueError("stress needs cpu: N and/or memory: SIZE")
        return self


class Ramp(Strict):
    """Move a toxic's attributes linearly to these values over the fault's duration (updated each second)."""

    latency: Seconds | None = None
    jitter: Seconds | None = None
    rate: int | None = Field(None, gt=0)
    toxicity: float | None = Field(None, ge=0, le=1)


class Repeat(Strict):
    """Flapping: on for ``on``, off for ``off``, repeated within the fault's window."""

    on: Seconds = Field(gt=0)
    off: Seconds = Field(gt=0)


class Trigger(Strict):
    """Start on the load's state instead of (and no earlier than) ``at``."""

    users_at_least: int | None = Field(None, ge=1)
    rps_above: float | None = Field(None, gt=0)
    error_rate_above: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        if sum(v is not None for v in (self.users_at_least, self.rps_above, self.error_rate_above)) != 1:
            raise ValueError("give one of users_at_least, rps_above, error_rate_above")
        return self


FAULT_KINDS = ("toxic", "proxy", "container", "sql", "exec", "stress")


class Fault(Strict):
    """One fault on the timeline: exactly one of toxic, proxy, container, sql, exec, stress."""

    name: str = Field(min_length=1, max_length=80)
    at: Seconds = 0.0
    for_: Seconds | None = Field(None, alias="for", description="how long; omitted = until the drill ends")
    when: Trigger | None = None
    repeat: Repeat | None = None
    ramp: Ramp | None = None
    toxic: Toxic | None = None
    proxy: ProxyFault | None = None
    container: ContainerFault | None = None
    sql: SqlFault | None = None
    exec: ExecFault | None = None
    stress: StressFault | None = None
    hidden: bool = Field(False, description="game days: responders see symptoms, not the name, until revealed")
    manual: bool = Field(False, description="game days: started by the facilitator, not the timeline")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Fault:
        given = [k for k in FAULT_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(FAULT_KINDS)} (got {', '.join(given) or 'none'})")
        if self.ramp is not None:
            if self.toxic is None or self.for_ is None:
                raise ValueError("ramp needs a toxic and a duration (for:)")
            for attr in ("latency", "jitter", "rate"):
                if getattr(self.ramp, attr) is not None and attr not in TOXIC_ATTRIBUTES[self.toxic.type]:
                    raise ValueError(f"ramp.{attr} does not apply to a {self.toxic.type} toxic")
        if self.repeat is not None and self.container is not None and self.container.action in ("kill", "restart"):
            raise ValueError("repeat does not apply to kill/restart; use pause or stop")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in FAULT_KINDS if getattr(self, k) is not None)

    @property
    def end(self) -> float | None:
        return None if self.for_ is None else self.at + self.for_
