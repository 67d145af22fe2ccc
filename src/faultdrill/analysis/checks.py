"""Judging a run's checks against its windows (pure).

A check ends one of three ways: ``passed``, ``failed`` (the system broke its bound, or the window
had no data), or ``misconfigured`` — it names a request, client profile or recorded series that
never appeared in this run, or a window that did not happen. A misconfigured check fails the run
too, but says what to fix ("no request '/ok'; recorded: GET /fail, GET /ok") instead of reporting
an SLO breach that never was.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

from faultdrill.analysis.breaches import breach_predicate, sustained_runs
from faultdrill.analysis.series import (
    SampleSource,
    Sampling,
    Series,
    request_matches,
    sampling_for,
    series_for,
)
from faultdrill.analysis.summary import profile_names, request_names, window_stats
from faultdrill.analysis.windows import Window, second_in
from faultdrill.histograms import LoadSecond
from faultdrill.scenario.check_model import (
    CONN_METRICS,
    DELIVERY_METRICS,
    LATENCY_METRICS,
    LOAD_METRICS,
    OPEN_METRICS,
    PERCENTILE_METRICS,
    Check,
    Span,
)

SHOWN_NAMES = 8


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
    outcome: str = ""  # passed | failed | misconfigured
    latency_of: str | None = None  # latency metrics: "successful" | "all"
    expectation: bool = False  # confirms a fault shows, rather than an SLO that must hold

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def window_of(check: Check, windows: dict[str, Window]) -> Window | None:
    if isinstance(check.window, Span):
        return Window(f"{check.window.from_:g}s–{check.window.to:g}s", ((check.window.from_, check.window.to),), "span")
    return windows.get(check.window)


def in_window(series: Series, window: Window, sampling: Sampling) -> Series:
    """Bins count for a window by their midpoint; instant samples by their own time."""
    if sampling.binned:
        return [(t, v) for t, v in series if second_in(window, int(t))]
    return [(t, v) for t, v in series if window.contains(t)]


def _names(recorded: Sequence[str], wanted: str) -> str:
    close = difflib.get_close_matches(wanted, recorded, n=SHOWN_NAMES, cutoff=0.3)
    shown = close or list(recorded)[:SHOWN_NAMES]
    more = len(recorded) - len(shown)
    return (", ".join(shown) + (f" (and {more} more)" if more > 0 else "")) if shown else "nothing"


def misconfiguration(check: Check, seconds: Sequence[LoadSecond], samples: SampleSource | None) -> str | None:
    """Why the check can never be judged in this run (a name that never appeared), or None."""
    if check.request is not None:
        recorded = request_names(list(seconds))
        if not any(request_matches(label, check.request) for label in recorded):
            return f"no request {check.request!r} in this run; recorded: {_names(recorded, check.request)}"
    if check.profile is not None:
        profiles = profile_names(list(seconds))
        if check.profile not in profiles:
            return f"no client profile {check.profile!r} in this run; recorded: {_names(profiles, check.profile)}"
    if check.metric in OPEN_METRICS and seconds and not any(s.open is not None for s in seconds):
        return f"{check.metric} is only recorded in the open model (load.mode: open)"
    if check.metric in DELIVERY_METRICS and seconds and not any(s.planned is not None for s in seconds):
        return f"{check.metric} needs the plan in each second's record, and this run's records have none"
    if check.metric not in LOAD_METRICS and check.metric not in (samples or {}):
        recorded = sorted(samples or {})
        return f"no series {check.metric!r} was recorded; recorded: {_names(recorded, check.metric)}"
    return None


def aggregate_value(check: Check, window: Window, seconds: Sequence[LoadSecond], series: Series) -> tuple[str, float | None]:
    """The window's value of the check's metric, and the aggregation used."""
    how = check.aggregate
    if how == "auto" and check.metric in LOAD_METRICS:
        stats = window_stats(list(seconds), window, check.request, check.profile)
        if check.metric in LATENCY_METRICS:
            name = check.metric if check.latency_of == "successful" else f"all_{check.metric}"
            return ("true percentile" if check.metric in PERCENTILE_METRICS else "window"), stats.metric(name)
        if check.metric in ("error_rate", "rps", "requests"):
            return "window", stats.metric(check.metric)
        if check.metric in ("failures", "dropped", "late", "intended"):
            return "sum", stats.metric(check.metric)
        if check.metric in CONN_METRICS:
            return "sum", float(sum(v for _, v in series if v is not None))
        if check.metric in DELIVERY_METRICS:
            return "window", delivered_ratio(seconds, window)
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
    return f"{how} of per-point values", ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def delivered_ratio(seconds: Sequence[LoadSecond], window: Window) -> float | None:
    """Everything delivered over everything planned in the window (None when nothing was planned)."""
    inside = [s for s in seconds if second_in(window, s.t) and s.planned]
    planned = sum(s.planned or 0.0 for s in inside)
    return sum(s.delivered for s in inside) / planned if planned else None


def judge(check: Check, seconds: Sequence[LoadSecond], windows: dict[str, Window],
          samples: SampleSource | None = None, interval: float = 1.0,
          fault_names: Sequence[str] = ()) -> CheckResult:
    window = window_of(check, windows)
    window_name = window.name if window is not None else str(check.window)
    latency_of = check.latency_of if check.metric in LATENCY_METRICS else None
    expectation = check.is_expectation(fault_names)

    def result(value: float | None, outcome: str, reason: str, how: str = check.aggregate,
               spans: tuple[tuple[float, float], ...] = ()) -> CheckResult:
        return CheckResult(check.name, check.metric, window_name, check.request, check.profile, how, value,
                           check.min, check.max, check.sustained, outcome == "passed", reason, spans, outcome,
                           latency_of, expectation)

    problem = misconfiguration(check, seconds, samples)
    if problem is not None:
        return result(None, "misconfigured", problem)
    if window is None:
        return result(None, "failed", f"window {window_name!r} did not happen in this run (the fault never started)")
    if not window.spans:
        return result(None, "failed", f"window {window_name!r} is empty in this run"
                                      + (f" ({window.note})" if window.note else ""))
    sampling = sampling_for(check.metric, interval)
    series = in_window(series_for(check.metric, check.request, seconds, samples, check.profile, check.latency_of),
                       window, sampling)
    how, value = aggregate_value(check, window, seconds, series)
    if check.sustained is not None:
        return _judge_sustained(check, series, sampling, window_name, value, how, result)
    if value is None:
        what = f" named {check.request}" if check.request else ""
        return result(None, "failed", f"no data{what} for {_label(check)} in window {window_name!r}", how)
    if not check.ok(value):
        return result(value, "failed", f"{_label(check)} = {value:g}, outside {_bound(check)}", how)
    return result(value, "passed", f"{_label(check)} = {value:g}, within {_bound(check)}", how)


def _judge_sustained(check: Check, series: Series, sampling: Sampling, window_name: str, value: float | None,
                     how: str, result: Callable[..., CheckResult]) -> CheckResult:
    if not series:
        return result(value, "failed", f"no data for {_label(check)} in window {window_name!r}", how)
    bad = breach_predicate(check.min, check.max)
    spans = tuple((r.start, r.end) for r in sustained_runs(series, bad, check.sustained, sampling))
    if spans:
        first = spans[0]
        return result(value, "failed", f"{_label(check)} breached {_bound(check)} for {first[1] - first[0]:g}s "
                                       f"from t={first[0]:g}s (sustained {check.sustained:g}s)", how, spans)
    return result(value, "passed", f"{_label(check)} never breached {_bound(check)} for {check.sustained:g}s", how)


def _label(check: Check) -> str:
    if check.metric in LATENCY_METRICS:
        return f"{check.metric} ({'successful requests' if check.latency_of == 'successful' else 'all requests'})"
    return check.metric


def _bound(check: Check) -> str:
    parts = []
    if check.min is not None:
        parts.append(f">= {check.min:g}")
    if check.max is not None:
        parts.append(f"<= {check.max:g}")
    return " and ".join(parts)


def judge_all(checks: Sequence[Check], seconds: Sequence[LoadSecond], windows: dict[str, Window],
              samples: SampleSource | None = None, interval: float = 1.0,
              fault_names: Sequence[str] = ()) -> list[CheckResult]:
    return [judge(c, seconds, windows, samples, interval, fault_names) for c in checks]
