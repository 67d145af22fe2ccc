"""The ``load`` section of a scenario: who sends what traffic, in which shape."""

from __future__ import annotations


from pydantic import Field, model_validator

from faultdrill.scenario.common import Seconds, Strict


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


