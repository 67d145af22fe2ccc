"""Sustained breaches of a bound in a per-second series (pure).

A point breaches when its value is outside the bound, or unknown (None) — a second in which
nothing answered is not a compliant second. A run of breaching points counts as a *sustained*
breach once it has lasted ``sustained`` seconds (its alert time); runs are broken by a compliant
point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from faultdrill.analysis.series import Series

STEP_S = 1.0


@dataclass(frozen=True)
class Run:
    start: float  # time of the first point of the run
    end: float  # time just after the last point (last t + step)

    @property
    def length(self) -> float:
        return self.end - self.start


def runs(series: Series, bad: Callable[[float | None], bool], step: float = STEP_S) -> list[Run]:
    """Maximal runs of consecutive points for which ``bad`` holds (a gap > 1.5 steps splits a run)."""
    out: list[Run] = []
    current: Run | None = None
    last_t: float | None = None
    for t, value in sorted(series, key=lambda p: p[0]):
        if bad(value) and current is not None and last_t is not None and t - last_t <= 1.5 * step:
            current = Run(current.start, t + step)
        elif bad(value):
            if current is not None:
                out.append(current)
            current = Run(t, t + step)
        elif current is not None:
            out.append(current)
            current = None
        last_t = t
    if current is not None:
        out.append(current)
    return out


def sustained_runs(series: Series, bad: Callable[[float | None], bool], sustained: float,
                   step: float = STEP_S) -> list[Run]:
    """Runs that lasted at least ``sustained`` (a zero or one-step ``sustained`` means any breach)."""
    return [r for r in runs(series, bad, step) if r.length >= max(sustained, step) - 1e-9]


def alert_time(run: Run, sustained: float, step: float = STEP_S) -> float:
    """When an alert on this breach would fire: once it has lasted ``sustained``."""
    return run.start + max(sustained, step)


def breach_predicate(min_: float | None, max_: float | None) -> Callable[[float | None], bool]:
    def bad(value: float | None) -> bool:
        if value is None:
            return True
        return (max_ is not None and value > max_) or (min_ is not None and value < min_)
    return bad
