"""Mergeable latency histograms (HdrHistogram), and the per-second record the load engine streams.

Pure: no I/O. Values are recorded in microseconds; percentiles are returned in milliseconds.
Because histograms merge exactly, a window's percentile is the true percentile of every
request in it, not an average of per-second percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000  # 10 minutes
SIGNIFICANT_DIGITS = 2


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_ms(hist: HdrHistogram, ms: float) -> None:
    hist.record_value(min(max(int(ms * 1000), LOWEST_US), HIGHEST_US))


def encode(hist: HdrHistogram) -> str:
    return str(hist.encode().decode("ascii"))


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge(hists: Iterable[HdrHistogram]) -> HdrHistogram:
    total = new_histogram()
    for hist in hists:
        total.add(hist)
    return total


def percentile_ms(hist: HdrHistogram | None, pct: float) -> float | None:
    """The ``pct`` percentile in ms; None with no histogram (unknown) or no values."""
    if hist is None or hist.get_total_count() == 0:
        return None
    return float(hist.get_value_at_percentile(pct)) / 1000.0


def max_ms(hist: HdrHistogram) -> float | None:
    return float(hist.get_max_value()) / 1000.0 if hist.get_total_count() else None


@dataclass
class RequestStats:
    """One request name within one second.

    ``hist`` holds the latency of every request (failures too); ``ok_hist`` of the successful ones
    only, so fast failures cannot make a window look faster than it was. ``ok_hist`` is None when
    unknown: a record written before it existed, with failures in it (never guessed).
    """

    count: int = 0
    failures: int = 0
    hist: HdrHistogram = field(default_factory=new_histogram)
    errors: dict[str, int] = field(default_factory=dict)
    ok_hist: HdrHistogram | None = field(default_factory=new_histogram)

    def record(self, ms: float, failure: str | None = None) -> None:
        """One request (the load engine's hot path counts in bulk instead: ``recording.Buckets``)."""
        self.count += 1
        record_ms(self.hist, ms)
        if failure:
            self.failures += 1
            self.errors[failure] = self.errors.get(failure, 0) + 1
        elif self.ok_hist is not None:
            record_ms(self.ok_hist, ms)

    def add(self, other: RequestStats) -> None:
        self.count += other.count
        self.failures += other.failures
        self.hist.add(other.hist)
        if self.ok_hist is not None and other.ok_hist is not None:
            self.ok_hist.add(other.ok_hist)
        else:
            self.ok_hist = None  # part of it is unknown: so is the whole
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"count": self.count, "failures": self.failures, "hist": encode(self.hist), "errors": self.errors}
        if self.ok_hist is not None:
            wire["ok_hist"] = encode(self.ok_hist)
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RequestStats:
        """Read one request's record; one written before ``ok_hist`` existed has it only if all succeeded."""
        count, failures, hist = int(data["count"]), int(data["failures"]), decode(data["hist"])
        if "ok_hist" in data:
            ok_hist: HdrHistogram | None = decode(data["ok_hist"])
        else:
            ok_hist = merge([hist]) if failures == 0 else None
        return cls(count, failures, hist, dict(data.get("errors", {})), ok_hist)


DEFAULT_PROFILE = "default"


@dataclass
class ConnStats:
    """One client profile within one second: requests attempted vs connections that reached the target.

    ``requests`` counts every request that ended this second (success or failure); ``connects`` the
    TCP connections the clients established, ``connect_errors`` the ones that failed; ``tls_ok`` /
    ``tls_errors`` the TLS handshakes that completed / failed (https only).
    """

    requests: int = 0
    connects: int = 0
    connect_errors: int = 0
    tls_ok: int = 0
    tls_errors: int = 0

    def add(self, other: ConnStats) -> None:
        for name in _CONN_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_wire(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CONN_FIELDS}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ConnStats:
        return cls(**{name: int(data.get(name, 0)) for name in _CONN_FIELDS})


_CONN_FIELDS = ("requests", "connects", "connect_errors", "tls_ok", "tls_errors")


@dataclass
class OpenStats:
    """The open (arrival-rate) model's own honesty record for one second.

    ``intended`` sends were due this second; ``sent`` went out, ``late`` of them more than the late
    threshold after their intended time; ``dropped`` never went out (max in-flight reached, or the
    generator was not running yet). ``lag_ms`` is the worst schedule lag, ``in_flight`` the arrivals
    still running at the end of the second.
    """

    intended: int = 0
    sent: int = 0
    late: int = 0
    dropped: int = 0
    lag_ms: float = 0.0
    in_flight: int = 0

    def add(self, other: OpenStats) -> None:
        self.intended += other.intended
        self.sent += other.sent
        self.late += other.late
        self.dropped += other.dropped
        self.in_flight += other.in_flight
        self.lag_ms = max(self.lag_ms, other.lag_ms)

    def to_wire(self) -> dict[str, Any]:
        return {"intended": self.intended, "sent": self.sent, "late": self.late, "dropped": self.dropped,
                "lag_ms": round(self.lag_ms, 3), "in_flight": self.in_flight}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> OpenStats:
        return cls(int(data.get("intended", 0)), int(data.get("sent", 0)), int(data.get("late", 0)),
                   int(data.get("dropped", 0)), float(data.get("lag_ms", 0.0)), int(data.get("in_flight", 0)))


def _add_requests(into: dict[str, RequestStats], other: dict[str, RequestStats]) -> None:
    for name, stats in other.items():
        into.setdefault(name, RequestStats()).add(stats)


@dataclass
class LoadSecond:
    """Everything the load generator saw complete during second ``t`` of the run clock.

    ``requests`` is always every profile together (what checks and plots read). With client
    profiles, ``profiles`` splits the same requests by profile (``{profile: {name: stats}}``).
    ``conns`` counts requests vs connections per profile; ``open`` is set in the open model;
    ``cpu_pct`` is the busiest generator process's CPU; ``workers`` how many processes reported;
    ``warnings`` says when the generator itself was the bottleneck; ``planned`` what the shape
    asked for (arrivals in open mode, users in closed mode), to hold ``delivered`` against.
    """

    t: int
    users: int
    requests: dict[str, RequestStats] = field(default_factory=dict)
    profiles: dict[str, dict[str, RequestStats]] = field(default_factory=dict)
    conns: dict[str, ConnStats] = field(default_factory=dict)
    open: OpenStats | None = None
    cpu_pct: float | None = None
    workers: int = 1
    warnings: list[str] = field(default_factory=list)
    planned: float | None = None  # what the shape asked of this second (``shape.planned_at``); None: unknown

    def total(self) -> RequestStats:
        out = RequestStats()
        for stats in self.requests.values():
            out.add(stats)
        return out

    def by_profile(self) -> dict[str, dict[str, RequestStats]]:
        """Requests split by client profile (one ``default`` profile when none were configured)."""
        return self.profiles if self.profiles else {DEFAULT_PROFILE: self.requests}

    @property
    def delivered(self) -> float:
        """What the generators delivered of ``planned``: arrivals sent (open), users running (closed)."""
        return float(self.open.sent) if self.open is not None else float(self.users)

    @property
    def delivered_ratio(self) -> float | None:
        """delivered / planned; None when nothing was planned (or the plan is unknown)."""
        if not self.planned:
            return None
        return self.delivered / self.planned

    @property
    def saturated(self) -> bool:
        return bool(self.warnings)

    def merge(self, other: LoadSecond) -> None:
        """Add another worker's record of the same second (exact: histograms add bucket by bucket)."""
        self.users += other.users
        _add_requests(self.requests, other.requests)
        for profile, requests in other.profiles.items():
            _add_requests(self.profiles.setdefault(profile, {}), requests)
        for profile, conn in other.conns.items():
            self.conns.setdefault(profile, ConnStats()).add(conn)
        if other.open is not None:
            if self.open is None:
                self.open = OpenStats()
            self.open.add(other.open)
        if other.cpu_pct is not None:
            self.cpu_pct = max(self.cpu_pct or 0.0, other.cpu_pct)
        self.workers += other.workers
        self.warnings += [w for w in other.warnings if w not in self.warnings]

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "second", "t": self.t, "users": self.users,
                      "requests": {name: s.to_wire() for name, s in self.requests.items()}}
        if self.profiles:
            wire["profiles"] = {p: {name: s.to_wire() for name, s in r.items()} for p, r in self.profiles.items()}
        if self.conns:
            wire["conns"] = {p: c.to_wire() for p, c in self.conns.items()}
        if self.open is not None:
            wire["open"] = self.open.to_wire()
        if self.cpu_pct is not None:
            wire["cpu_pct"] = round(self.cpu_pct, 1)
        if self.workers != 1:
            wire["workers"] = self.workers
        if self.warnings:
            wire["warnings"] = list(self.warnings)
        if self.planned is not None:
            wire["planned"] = round(self.planned, 3)
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LoadSecond:
        """Read a ``second`` line; lines written before profiles/open/cpu existed read as before."""
        def requests(raw: Mapping[str, Any]) -> dict[str, RequestStats]:
            return {name: RequestStats.from_wire(s) for name, s in raw.items()}

        return cls(int(data["t"]), int(data["users"]), requests(data["requests"]),
                   {p: requests(r) for p, r in data.get("profiles", {}).items()},
                   {p: ConnStats.from_wire(c) for p, c in data.get("conns", {}).items()},
                   OpenStats.from_wire(data["open"]) if data.get("open") is not None else None,
                   float(data["cpu_pct"]) if data.get("cpu_pct") is not None else None,
                   int(data.get("workers", 1)), list(data.get("warnings", [])),
                   float(data["planned"]) if data.get("planned") is not None else None)
