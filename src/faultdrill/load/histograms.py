"""Mergeable latency histograms (HdrHistogram), and the per-second record the load engine streams.

Pure: no I/O. Values are recorded in microseconds; percentiles are returned in milliseconds.
Because histograms merge exactly, a window's percentile is the true percentile of every
request in it, not an average of per-second percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000  # 10 minutes
SIGNIFICANT_DIGITS = 2


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_ms(hist: HdrHistogram, ms: float) -> None:
    hist.record_value(min(max(int(ms * 1000), LOWEST_US), HIGHEST_US))


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge(hists: Iterable[HdrHistogram]) -> HdrHistogram:
    total = new_histogram()
    for hist in hists:
        total.add(hist)
    return total


def percentile_ms(hist: HdrHistogram, pct: float) -> float | None:
    if hist.get_total_count() == 0:
        return None
    return hist.get_value_at_percentile(pct) / 1000.0


def max_ms(hist: HdrHistogram) -> float | None:
    return hist.get_max_value() / 1000.0 if hist.get_total_count() else None


@dataclass
class RequestStats:
    """One request name within one second."""

    count: int = 0
    failures: int = 0
    hist: HdrHistogram = field(default_factory=new_histogram)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: "RequestStats") -> None:
        self.count += other.count
        self.failures += other.failures
        self.hist.add(other.hist)
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def to_wire(self) -> dict:
        return {"count": self.count, "failures": self.failures, "hist": encode(self.hist), "errors": self.errors}

    @classmethod
    def from_wire(cls, data: dict) -> "RequestStats":
        return cls(int(data["count"]), int(data["failures"]), decode(data["hist"]), dict(data.get("errors", {})))


@dataclass
class LoadSecond:
    """Everything the load generator saw complete during second ``t`` of the run clock."""

    t: int
    users: int
    requests: dict[str, RequestStats] = field(default_factory=dict)

    def total(self) -> RequestStats:
        out = RequestStats()
        for stats in self.requests.values():
            out.add(stats)
        return out

    def merge(self, other: "LoadSecond") -> None:
        """Add another worker's record of the same second."""
        self.users += other.users
        for name, stats in other.requests.items():
            self.requests.setdefault(name, RequestStats()).add(stats)

    def to_wire(self) -> dict:
        return {"type": "second", "t": self.t, "users": self.users,
                "requests": {name: s.to_wire() for name, s in self.requests.items()}}

    @classmethod
    def from_wire(cls, data: dict) -> "LoadSecond":
        return cls(int(data["t"]), int(data["users"]),
                   {name: RequestStats.from_wire(s) for name, s in data["requests"].items()})
