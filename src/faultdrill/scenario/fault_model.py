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


