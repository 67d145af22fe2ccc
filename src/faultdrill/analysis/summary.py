"""Per-window statistics from per-second histograms (true percentiles over the window)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from faultdrill.analysis.windows import Window, second_in
from faultdrill.load.histograms import LoadSecond, RequestStats, max_ms, percentile_ms


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

    def metric(self, name: str) -> float | None:
        return {"requests": float(self.requests)}.get(name, getattr(self, name, None))

    def to_json(self) -> dict:
        return asdict(self)


def window_stats(seconds: list[LoadSecond], window: Window, request: str | None = None,
                 profile: str | None = None) -> WindowStats:
    from faultdrill.analysis.series import stats_of

    picked = [s for s in seconds if second_in(window, s.t)]
    total = RequestStats()
    for second in picked:
        stats = stats_of(second, request, profile)
        if stats is not None:
            total.add(stats)
    n = len(picked)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return WindowStats(
        window=window.name,
        start=window.spans[0][0] if window.spans else None,
        end=window.spans[-1][1] if window.spans else None,
        seconds=n,
        requests=total.count,
        failures=total.failures,
        error_rate=round(total.failures / total.count, 5) if total.count else None,
        rps=round(total.count / n, 2) if n else None,
        p50_ms=r(percentile_ms(total.hist, 50)),
        p95_ms=r(percentile_ms(total.hist, 95)),
        p99_ms=r(percentile_ms(total.hist, 99)),
        max_ms=r(max_ms(total.hist)),
        errors=dict(sorted(total.errors.items(), key=lambda kv: -kv[1])),
    )


def request_names(seconds: list[LoadSecond]) -> list[str]:
    return sorted({name for s in seconds for name in s.requests})
