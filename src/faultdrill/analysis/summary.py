"""Per-window statistics from per-second histograms (true percentiles over the window; pure).

Latency percentiles come twice: ``p50_ms`` … ``max_ms`` over the **successful** requests (what a
plain latency check judges) and ``all_p50_ms`` … ``all_max_ms`` over every request, failed ones
included. A window with no second in it is ``empty``: every value is None, never 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from faultdrill.analysis.series import dropped_of, stats_of
from faultdrill.analysis.windows import Window, second_in
from faultdrill.histograms import LoadSecond, OpenStats, RequestStats, max_ms, percentile_ms


@dataclass(frozen=True)
class WindowStats:
    window: str
    start: float | None
    end: float | None
    seconds: int
    requests: int
    failures: int
    error_rate: float | None
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: dict[str, int]
    all_p50_ms: float | None = None
    all_p95_ms: float | None = None
    all_p99_ms: float | None = None
    all_max_ms: float | None = None
    empty: bool = False
    spans: list[tuple[float, float]] = field(default_factory=list)
    note: str = ""
    intended: int | None = None  # open model only: arrivals due, dropped (never sent), late
    dropped: int | None = None
    late: int | None = None
    lag_ms: float | None = None  # worst schedule lag

    def metric(self, name: str) -> float | None:
        if name in ("requests", "failures", "intended", "dropped", "late"):
            value = getattr(self, name)
            return None if value is None or self.empty else float(value)
        return getattr(self, name, None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _open_total(picked: list[LoadSecond]) -> OpenStats | None:
    opens = [s.open for s in picked if s.open is not None]
    if not opens:
        return None
    total = OpenStats()
    for o in opens:
        total.add(o)
    return total


def window_stats(seconds: list[LoadSecond], window: Window, request: str | None = None,
                 profile: str | None = None) -> WindowStats:
    picked = [s for s in seconds if second_in(window, s.t)]
    total = RequestStats()
    dropped = 0
    for second in picked:
        stats = stats_of(second, request, profile)
        if stats is not None:
            total.add(stats)
        dropped += dropped_of(second, request, profile)
    n = len(picked)
    attempts = total.count + dropped
    errors = dict(total.errors)
    if dropped:
        errors["dropped: arrival never sent (max_in_flight reached)"] = dropped
    o = _open_total(picked) if request is None and profile is None else None
    return WindowStats(
        window=window.name, start=window.start, end=window.end, seconds=n,
        requests=total.count, failures=total.failures,
        error_rate=round((total.failures + dropped) / attempts, 5) if attempts else None,
        rps=round(total.count / n, 2) if n else None,
        p50_ms=_r(percentile_ms(total.ok_hist, 50)), p95_ms=_r(percentile_ms(total.ok_hist, 95)),
        p99_ms=_r(percentile_ms(total.ok_hist, 99)), max_ms=_r(max_ms(total.ok_hist)),
        errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        all_p50_ms=_r(percentile_ms(total.hist, 50)), all_p95_ms=_r(percentile_ms(total.hist, 95)),
        all_p99_ms=_r(percentile_ms(total.hist, 99)), all_max_ms=_r(max_ms(total.hist)),
        empty=n == 0, spans=[(round(a, 3), round(b, 3)) for a, b in window.spans], note=window.note,
        intended=o.intended if o else None, dropped=o.dropped if o else None, late=o.late if o else None,
        lag_ms=_r(o.lag_ms) if o else None,
    )


def request_names(seconds: list[LoadSecond]) -> list[str]:
    return sorted({name for s in seconds for name in s.requests})


def profile_names(seconds: list[LoadSecond]) -> list[str]:
    return sorted({p for s in seconds for p in s.by_profile()})
