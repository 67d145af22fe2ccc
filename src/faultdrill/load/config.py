"""What the parent tells the load child (one JSON line on its stdin). Pure: no Locust, no gevent.

``ChildConfig.from_json`` also reads the original config (``stages`` instead of ``segments``), so
a parent written before open mode, profiles and workers still drives the child.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from faultdrill.load.shape import Segment, check_segments

ROLES = ("local", "master", "worker")


@dataclass(frozen=True)
class ChildConfig:
    # run clock origin: time.monotonic() in the parent (CLOCK_MONOTONIC, shared on one host). The
    # parent's start message sets it (the child prepares before the clock starts); 0.0 until then.
    t0: float
    duration: float
    host: str
    journeys: str
    segments: list[Segment]
    request_timeout: float
    mode: str = "closed"  # closed | open
    workers: int = 1  # worker processes on this machine (0 with remote workers only)
    profiles: list[dict[str, Any]] = field(default_factory=list)  # [{name, share, tls}]
    weights: dict[str, float] = field(default_factory=dict)
    think_time: tuple[float, float] | None = None
    max_in_flight: int = 1000
    late_after: float = 0.01
    seed: int | None = None
    start_timeout: float = 60.0  # once prepared, the child waits this long for the parent's start
    allow_hosts: list[str] = field(default_factory=list)  # a remote worker checks its target against these
    # workers on other machines (load.workers: {remote: M, wait, listen}; docs/scale.md)
    remote_workers: int = 0
    remote_wait: float = 60.0
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0: any free port (local workers only)
    token: str = ""  # the per-run secret remote workers prove they know; never shipped to a worker
    # set by the master for its workers
    role: str = "local"
    worker_index: int = 0
    master_port: int = 0
    master_host: str = "127.0.0.1"
    ticket: str = ""  # the one-time ticket the worker's Locust connection shows the master

    def __post_init__(self) -> None:
        check_segments(self.segments)
        if self.mode not in ("closed", "open"):
            raise ValueError(f"mode must be closed or open, got {self.mode!r}")
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.workers < 0 or self.remote_workers < 0 or self.total_workers < 1:
            raise ValueError(f"need at least one load worker, got {self.workers} local + {self.remote_workers} remote")

    @property
    def total_workers(self) -> int:
        return self.workers + self.remote_workers

    @property
    def distributed(self) -> bool:
        return self.total_workers > 1 or self.remote_workers > 0

    @property
    def hard_deadline(self) -> float:
        """Monotonic time by which any generator process stops, whatever happens."""
        return self.t0 + self.duration + 15.0

    def for_worker(self, index: int, master_port: int, ticket: str = "", master_host: str = "127.0.0.1") -> ChildConfig:
        """A worker's config: never the run's token (a ticket good for one connection instead)."""
        return replace(self, role="worker", worker_index=index, master_port=master_port, ticket=ticket,
                       master_host=master_host, token="")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["segments"] = [asdict(s) for s in self.segments]
        data["think_time"] = list(self.think_time) if self.think_time else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChildConfig:
        data = dict(data)
        if "segments" in data:
            segments = [Segment(**s) for s in data.pop("segments")]
        else:  # the original protocol: closed-model stages
            segments = [Segment(float(s["until"]), float(s["users"]), bool(s.get("ramp", False)), s.get("spawn_rate"))
                        for s in data.pop("stages")]
        think = data.pop("think_time", None)
        known = set(cls.__dataclass_fields__) - {"segments", "think_time"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown child config keys {sorted(unknown)}")
        return cls(segments=segments, think_time=tuple(think) if think else None, **data)

    @classmethod
    def from_load(cls, load: Any, *, duration: float, host: str, journeys: str, t0: float = 0.0) -> ChildConfig:
        """From the scenario's ``Load`` model (duck-typed: this module does not import pydantic)."""
        profiles = [{"name": p.name, "share": p.share, "tls": p.tls.model_dump() if p.tls else None}
                    for p in load.profiles]
        think = (load.think_time.min, load.think_time.max) if load.think_time else None
        pool = load.pool
        listen_host, listen_port = (pool.listen_host, pool.listen_port) if pool.remote else ("127.0.0.1", 0)
        return cls(t0=t0, duration=duration, host=host, journeys=journeys, segments=load.segments(),
                   request_timeout=load.request_timeout, mode=load.mode, workers=pool.local, profiles=profiles,
                   weights=dict(load.weights), think_time=think, max_in_flight=load.max_in_flight,
                   late_after=load.late_after, seed=load.seed, allow_hosts=list(load.allow_hosts),
                   remote_workers=pool.remote, remote_wait=pool.wait, listen_host=listen_host,
                   listen_port=listen_port)
