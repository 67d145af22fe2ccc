"""Judging a run's checks against its windows (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from faultdrill.analysis.summary import window_stats
from faultdrill.analysis.windows import Window
from faultdrill.load.histograms import LoadSecond
from faultdrill.scenario.model import Check


@dataclass(frozen=True)
class CheckResult:
    name: str
    metric: str
    window: str
    request: str | None
    value: float | None
    min: float | None
    max: float | None
    passed: bool
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def judge(check: Check, seconds: list[LoadSecond], windows: dict[str, Window]) -> CheckResult:
    def result(value: float | None, passed: bool, reason: str) -> CheckResult:
        return CheckResult(check.name, check.metric, check.window, check.request, value, check.min, check.max,
                           passed, reason)

    window = windows.get(check.window)
    if window is None or not window.spans:
        return result(None, False, f"window {check.window!r} did not happen in this run")
    stats = window_stats(seconds, window, check.request)
    if stats.requests == 0:
        return result(None, False, f"no requests{' named ' + check.request if check.request else ''} "
                                   f"completed in window {check.window!r}")
    value = stats.metric(check.metric)
    if value is None:
        return result(None, False, f"{check.metric} has no value in window {check.window!r}")
    if check.max is not None and value > check.max:
        return result(value, False, f"{check.metric} = {value:g} > max {check.max:g}")
    if check.min is not None and value < check.min:
        return result(value, False, f"{check.metric} = {value:g} < min {check.min:g}")
    bounds = " and ".join(b for b in (f">= {check.min:g}" if check.min is not None else "",
                                      f"<= {check.max:g}" if check.max is not None else "") if b)
    return result(value, True, f"{check.metric} = {value:g}, {bounds}")


def judge_all(checks: list[Check], seconds: list[LoadSecond], windows: dict[str, Window]) -> list[CheckResult]:
    return [judge(c, seconds, windows) for c in checks]
