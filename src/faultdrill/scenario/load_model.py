"""The ``load`` section of a scenario: who sends what traffic, in which shape.

Two models of traffic (docs/load.md):

* ``mode: closed`` (default): a number of concurrent users, each looping over its journeys with
  think times. Shape levels are ``users``.
* ``mode: open``: arrivals at a set rate whether or not the target keeps up (the way real
  customers arrive when a sale opens). Shape levels are ``rate`` (journeys started per second).

The shape is one of ``shape`` (a list of stages; ``ramp: true`` slides linearly from the previous
stage's level), ``spike`` or ``steps``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from faultdrill.load.shape import Segment, spike, steps
from faultdrill.scenario.common import Name, Seconds, Strict

TlsVersion = Literal["1.0", "1.1", "1.2", "1.3"]


class Stage(Strict):
    until: Seconds
    users: int | None = Field(None, ge=0, le=100_000, description="closed mode: concurrent users")
    rate: float | None = Field(None, ge=0, le=1_000_000, description="open mode: journeys started per second")
    spawn_rate: float | None = Field(None, gt=0, description="closed mode: users started per second")
    ramp: bool = Field(False, description="slide linearly from the previous stage's level to this one")


class Spike(Strict):
    """Ticket-sale traffic: baseline, the sale opens ``at``, rise to ``peak``, hold, decay."""

    baseline: float = Field(ge=0)
    peak: float = Field(ge=0)
    at: Seconds
    rise: Seconds = 0.0
    hold: Seconds
    decay: Seconds = 0.0
    until: Seconds
    after: float | None = Field(None, ge=0, description="level after the decay (default: baseline)")


class Steps(Strict):
    """A staircase: ``levels`` (or ``start`` + ``step`` × ``count``), each held ``every`` seconds."""

    levels: list[float] | None = Field(None, min_length=1)
    start: float | None = Field(None, ge=0)
    step: float | None = None
    count: int | None = Field(None, ge=1, le=10_000)
    every: Seconds
    ramp: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Steps:
        explicit = self.levels is not None
        generated = (self.start, self.step, self.count) != (None, None, None)
        if explicit == generated:
            raise ValueError("steps: give either levels: [...] or start + step + count")
        if generated and None in (self.start, self.step, self.count):
            raise ValueError("steps: start, step and count go together")
        if self.every <= 0:
            raise ValueError("steps.every must be more than 0s")
        if any(level < 0 for level in self.values()):
            raise ValueError("steps: every level must be >= 0")
        return self

    def values(self) -> list[float]:
        if self.levels is not None:
            return list(self.levels)
        assert self.start is not None and self.step is not None and self.count is not None
        return [self.start + self.step * i for i in range(self.count)]


class Tls(Strict):
    """A client profile's TLS settings. OpenSSL 3 needs ``@SECLEVEL=0`` to offer TLS 1.0/1.1; with
    ``max_version`` 1.0 or 1.1 and no ``ciphers``, ``DEFAULT:@SECLEVEL=0`` is used."""

    min_version: TlsVersion | None = None
    max_version: TlsVersion | None = None
    ciphers: str | None = None
    verify: bool = Field(False, description="verify the server certificate (off: drills target self-signed stacks)")

    @model_validator(mode="after")
    def _ordered(self) -> Tls:
        if self.min_version and self.max_version and self.min_version > self.max_version:
            raise ValueError(f"tls.min_version {self.min_version} is above max_version {self.max_version}")
        return self


class Profile(Strict):
    name: Name
    share: float = Field(gt=0, le=1, description="fraction of users (closed) or arrivals (open)")
    tls: Tls | None = None


class ThinkTime(Strict):
    min: Seconds
    max: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.max < self.min:
            raise ValueError(f"think_time.max ({self.max:g}s) is below min ({self.min:g}s)")
        return self


class WorkerPool(Strict):
    """``workers: {local: N, remote: M, wait: 60s, listen: HOST:PORT}`` (docs/scale.md).

    ``local`` worker processes are started here; ``remote`` ones join with ``faultdrill worker
    --master HOST:PORT --token T`` from other machines, within ``wait`` of the drill preparing its
    load. The master listens on ``listen`` (``127.0.0.1:5557`` by default: say ``0.0.0.0:5557`` or a
    host's own address for other machines to reach it).
    """

    local: int = Field(1, ge=0, le=64, description="worker processes on this machine")
    remote: int = Field(0, ge=0, le=256, description="workers that join from other machines")
    wait: Seconds = Field(60.0, description="how long the drill waits for its remote workers to join")
    listen: str = Field("127.0.0.1:5557", description="HOST:PORT the master listens on for workers")

    @model_validator(mode="after")
    def _sane(self) -> WorkerPool:
        if self.local + self.remote < 1:
            raise ValueError("workers: local + remote must be at least 1")
        if self.wait <= 0:
            raise ValueError("workers.wait must be more than 0s")
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"workers.listen must be HOST:PORT (e.g. 0.0.0.0:5557), got {self.listen!r}")
        return self

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _workers_form(value: object) -> str:
    """``workers: 4`` or ``workers: {local, remote, …}``: only the form written is validated (one error, not two)."""
    return "workers[pool]" if isinstance(value, (dict, WorkerPool)) else "int"


class Load(Strict):
    journeys: str = Field(description="pack:NAME (an installed journey pack; builtin:NAME too) or a path to a locustfile")
    host: str
    mode: Literal["closed", "open"] = "closed"
    shape: list[Stage] | None = Field(None, min_length=1)
    spike: Spike | None = None
    steps: Steps | None = None
    duration: Seconds | None = None
    allow_hosts: list[str] = Field([], description="non-local hosts this drill may load (explicit opt-in)")
    request_timeout: Seconds = 10.0
    workers: Annotated[Annotated[int, Tag("int")] | Annotated[WorkerPool, Tag("workers[pool]")],
                       Discriminator(_workers_form)] = Field(
        1, description="load generator processes (Locust master/worker when > 1), or "
                       "{local: N, remote: M, wait: 60s, listen: HOST:PORT} with workers on other machines")
    profiles: list[Profile] = Field([], description="client profiles, e.g. a share of legacy-TLS clients")
    weights: dict[str, float] = Field({}, description="user class name -> weight, overriding the journeys'")
    think_time: ThinkTime | None = Field(None, description="closed mode: wait between tasks, overriding the journeys'")
    max_in_flight: int = Field(1000, ge=1, le=100_000, description="open mode: concurrent arrivals per process")
    late_after: Seconds = Field(0.01, description="open mode: a send this long after its intended time is late")
    seed: int | None = Field(None, description="open mode: seed for picking journeys")

    @property
    def pool(self) -> WorkerPool:
        """``workers`` in its full form (an int N is N local workers)."""
        if isinstance(self.workers, WorkerPool):
            return self.workers
        return WorkerPool.model_validate({"local": self.workers})

    @model_validator(mode="after")
    def _consistent(self) -> Load:
        if isinstance(self.workers, int) and not 1 <= self.workers <= 64:
            raise ValueError(f"load.workers must be between 1 and 64, got {self.workers}")
        given = [name for name in ("shape", "spike", "steps") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of load.shape, load.spike, load.steps"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.shape is not None:
            self._check_stages(self.shape)
        if self.profiles:
            names = [p.name for p in self.profiles]
            if len(set(names)) != len(names):
                raise ValueError(f"profile names must be unique, got {names}")
            total = sum(p.share for p in self.profiles)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"profile shares must add up to 1, they add up to {total:g}")
        for name, weight in self.weights.items():
            if weight <= 0:
                raise ValueError(f"weights.{name} must be more than 0, got {weight:g}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("load.duration must be more than 0s")
        self.segments()  # the helpers check their own times (e.g. a spike that ends before its decay)
        return self

    def _check_stages(self, stages: list[Stage]) -> None:
        level, other = ("rate", "users") if self.mode == "open" else ("users", "rate")
        last = 0.0
        for i, stage in enumerate(stages):
            if stage.until <= last:
                raise ValueError(f"shape[{i}].until ({stage.until:g}s) must be after the previous stage ({last:g}s)")
            last = stage.until
            if getattr(stage, level) is None:
                raise ValueError(f"shape[{i}] needs {level}: (load.mode is {self.mode})")
            if getattr(stage, other) is not None:
                raise ValueError(f"shape[{i}] sets {other}, which is for mode "
                                 f"{'closed' if self.mode == 'open' else 'open'}; write {level}: instead")
            if stage.spawn_rate is not None and (stage.ramp or self.mode == "open"):
                raise ValueError(f"shape[{i}]: spawn_rate is for closed-mode stages without ramp")

    def segments(self) -> list[Segment]:
        """The shape as pure segments (levels are users in closed mode, arrivals/s in open mode)."""
        if self.spike is not None:
            s = self.spike
            return spike(baseline=s.baseline, peak=s.peak, at=s.at, rise=s.rise, hold=s.hold, decay=s.decay,
                         end=s.until, after=s.after)
        if self.steps is not None:
            return steps(self.steps.values(), self.steps.every, ramp=self.steps.ramp)
        assert self.shape is not None
        return [Segment(st.until, float((st.rate if self.mode == "open" else st.users) or 0), st.ramp, st.spawn_rate)
                for st in self.shape]

    @property
    def total_duration(self) -> float:
        return self.duration if self.duration is not None else self.segments()[-1].until
