"""Named time windows of a run: baseline, each fault, recovery, the whole run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultInterval:
    name: str
    start: float
    end: float | None  # None: active until the end of the run


@dataclass(frozen=True)
class Window:
    name: str
    spans: tuple[tuple[float, float], ...]
    kind: str  # baseline | fault | faults | recovery | run

    def contains(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.spans)

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.spans)


def build_windows(duration: float, faults: list[FaultInterval]) -> dict[str, Window]:
    """Windows on the run clock. With faults: ``baseline`` before the first starts, one window per
    fault, ``fault`` (all of them), ``recovery`` after the last ends; always ``run``."""
    windows = {"run": Window("run", ((0.0, duration),), "run")}
    if not faults:
        return windows
    spans = []
    for fault in faults:
        end = duration if fault.end is None else min(fault.end, duration)
        windows[fault.name] = Window(fault.name, ((fault.start, end),), "fault")
        spans.append((fault.start, end))
    first = min(f.start for f in faults)
    last = max(b for _, b in spans)
    windows["baseline"] = Window("baseline", ((0.0, first),), "baseline")
    windows["fault"] = Window("fault", tuple(_union(spans)), "faults")
    windows["recovery"] = Window("recovery", ((last, duration),) if last < duration else (), "recovery")
    return windows


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def second_in(window: Window, t: int) -> bool:
    """A per-second record [t, t+1) counts for a window if its midpoint lies inside."""
    return window.contains(t + 0.5)
