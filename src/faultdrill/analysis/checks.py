"""Judging a run's checks against its windows (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Sequence

from faultdrill.analysis.breaches import breach_predicate, sustained_runs
from faultdrill.analysis.series import SampleSource, Series, series_for
from faultdrill.analysis.summary import window_stats
from faultdrill.analysis.windows import Window, second_in
from faultdrill.load.histograms import LoadSecond
from faultdrill.scenario.check_model import CONN_METRICS, LOAD_METRICS, PERCENTILE_METRICS, Check, Span


@dataclass(frozen=True)
class CheckResult:
    name: str
    metric: str
    window: str
    request: str | None
    profile: str | None
    aggregate: str
    value: float | None
    min: float | None
    max: float | None
    sustained_s: float | None
    passed: bool
    reason: str
    breaches: tuple[tuple[float, float], ...] = ()  # sustained breach spans inside the window

    def to_json(self) -> dict:
        return asdict(self)


def window_of(check: Check, windows: dict[str, Window]) -> Window | None:
    if isinstance(check.window, Span):
        return Window(f"{check.window.from_:g}s–{check.window.to:g}s", ((check.window.from_, check.window.to),), "span")
    return windows.get(check.window)


def _in_window(series: Series, window: Window) -> Series:
    return [(t, v) for t, v in series if second_in(window, int(t)) or window.contains(t)]


def aggregate_value(check: Check, window: Window, seconds: Sequence[LoadSecond], series: Series) -> tuple[str, float | None]:
    """The window's value of the check's metric, and the aggregation used."""
    how = check.aggregate
    if how == "auto" and check.metric in LOAD_METRICS:
        stats = window_stats(list(seconds), window, check.request, check.profile)
        if check.metric in PERCENTILE_METRICS or check.metric in ("error_rate", "rps", "requests", "max_ms"):
            value = {"requests": float(stats.requests)}.get(check.metric, stats.metric(check.metric))
            return ("true percentile" if check.metric in PERCENTILE_METRICS else "window"), value
        if check.metric == "failures":
            return "sum", float(stats.failures)
        if check.metric in CONN_METRICS:
            return "sum", float(sum(v for _, v in series if v is not None))
        how = "max"
    if how == "auto":
        how = "max" if check.max is not None else "min"
    values = [v for _, v in series if v is not None]
    if not values:
        return how, None
    if how == "max":
        return how, max(values)
    if how == "min":
        return how, min(values)
    if how == "mean":
        return how, fmean(values)
    if how == "last":
        return how, values[-1]
    pct = float(how[1:])
    ordered = sorted(values)
    return f"{how} of per-second values", ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def judge(check: Check, seconds: Sequence[LoadSecond], windows: dict[str, Window],
          samples: SampleSource | None = None) -> CheckResult:
    window = window_of(check, windows)
    window_name = window.name if window is not None else str(check.window)

    def result(value: float | None, passed: bool, reason: str, how: str = check.aggregate,
               spans: tuple[tuple[float, float], ...] = ()) -> CheckResult:
        return CheckResult(check.name, check.metric, window_name, check.request, check.profile, how, value,
                           check.min, check.max,
                           check.sustained, passed, reason, spans)

    if window is None or not window.spans or window.seconds <= 0:
        return result(None, False, f"window {window_name!r} did not happen in this run")
    series = _in_window(series_for(check.metric, check.request, seconds, samples, check.profile), window)
    how, value = aggregate_value(check, window, seconds, series)
    if check.sustained is not None:
        bad = breach_predicate(check.min, check.max)
        spans = tuple((r.start, r.end) for r in sustained_runs(series, bad, check.sustained))
        if not series:
            return result(value, False, f"no data for {check.metric} in window {window_name!r}", how)
        if spans:
            first = spans[0]
            return result(value, False, f"{check.metric} breached {_bound(check)} for {first[1] - first[0]:g}s "
                                        f"from t={first[0]:g}s (sustained {check.sustained:g}s)", how, spans)
        return result(value, True, f"{check.metric} never breached {_bound(check)} for {check.sustained:g}s", how)
    if value is None:
        what = f" named {check.request}" if check.request else ""
        return result(None, False, f"no data{what} for {check.metric} in window {window_name!r}", how)
    if not check.ok(value):
        return result(value, False, f"{check.metric} = {value:g}, outside {_bound(check)}", how)
    return result(value, True, f"{check.metric} = {value:g}, within {_bound(check)}", how)


def _bound(check: Check) -> str:
    parts = []
    if check.min is not None:
        parts.append(f">= {check.min:g}")
    if check.max is not None:
        parts.append(f"<= {check.max:g}")
    return " and ".join(parts)


def judge_all(checks: Sequence[Check], seconds: Sequence[LoadSecond], windows: dict[str, Window],
              samples: SampleSource | None = None) -> list[CheckResult]:
    return [judge(c, seconds, windows, samples) for c in checks]
