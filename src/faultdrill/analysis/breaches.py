"""Sustained breaches of a bound in a series (pure).

A point breaches when its value is outside the bound, or unknown (None) — a second in which
nothing answered is not a compliant second. A run of breaching points counts as a *sustained*
breach once it has lasted ``sustained`` seconds (its alert time); runs are broken by a compliant
point, or by a gap of more than 1.5 steps with no point at all.

How long a run lasted depends on what a point is (``Sampling``): a load bin ``[t, t+1)`` that
breached was bad for its whole second, so bins t…t+4 are a 5 s breach known at t+5; an instant
sample only says how things were at its own time, so samples at t…t+5 are a 5 s breach known at t+5,
and one bad sample is a breach known at once (not a second later).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faultdrill.analysis.series import LOAD_SAMPLING, Sampling, Series

GAP_STEPS = 1.5


@dataclass(frozen=True)
class Run:
    start: float  # time of the first point of the run
    end: float  # bins: just after the last bin; instants: the last sample's time

    @property
    def length(self) -> float:
        return self.end - self.start


def _close(first: float, last: float, sampling: Sampling) -> Run:
    return Run(first, last + sampling.step if sampling.binned else last)


def runs(series: Series, bad: Callable[[float | None], bool], sampling: Sampling = LOAD_SAMPLING) -> list[Run]:
    """Maximal runs of consecutive points for which ``bad`` holds."""
    out: list[Run] = []
    first: float | None = None
    last: float | None = None
    for t, value in sorted(series, key=lambda p: p[0]):
        gap = last is not None and t - last > GAP_STEPS * sampling.step
        if first is not None and (not bad(value) or gap):
            out.append(_close(first, last if last is not None else first, sampling))
            first = None
        if bad(value) and first is None:
            first = t
        last = t
    if first is not None and last is not None:
        out.append(_close(first, last, sampling))
    return out


def shortest(sustained: float | None, sampling: Sampling) -> float:
    """The least length a run must have to count: ``sustained``, and at least one bin."""
    return max(sustained or 0.0, sampling.step if sampling.binned else 0.0)


def sustained_runs(series: Series, bad: Callable[[float | None], bool], sustained: float | None,
                   sampling: Sampling = LOAD_SAMPLING) -> list[Run]:
    """Runs that lasted at least ``sustained`` (none or zero: any breach)."""
    need = shortest(sustained, sampling)
    return [r for r in runs(series, bad, sampling) if r.length >= need - 1e-9]


def alert_time(run: Run, sustained: float | None, sampling: Sampling = LOAD_SAMPLING) -> float:
    """When an alert on this breach would fire: once it has lasted ``sustained``."""
    return run.start + shortest(sustained, sampling)


def breach_predicate(min_: float | None, max_: float | None) -> Callable[[float | None], bool]:
    def bad(value: float | None) -> bool:
        if value is None:
            return True
        return (max_ is not None and value > max_) or (min_ is not None and value < min_)
    return bad
