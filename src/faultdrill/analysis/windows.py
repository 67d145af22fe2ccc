"""Named time windows of a run: baseline, ramp, each fault, all faults, recovery, the whole run (pure).

What each window means (the report and ``docs/summary-schema.md`` say the same):

* ``baseline`` — *steady* load before the first fault: seconds where the shape holds its level, the
  generator has reached it, and what was sent while the load changed has completed. Ramps (a sale
  opening, users being spawned, the first connections of a cold start) are left out of it.
* ``ramp`` — the seconds before the first fault where the load was still changing (reported apart,
  present only when there were any).
* one window per fault that started — from its start to its heal; a fault that was never healed
  (it ran until the drill ended, was stopped by an abort or by teardown) *did not end*: its window
  runs to the end of the run and says so.
* ``fault`` — the union of every fault's window.
* ``recovery`` — after the last fault that was really *healed*, to the end of the run. Faults that
  did not end are named in the window (``while``): they were still on. No healed fault: the window
  is empty.
* ``run`` — the whole run.

A window with no whole second in it (see ``second_in``) is *empty*: it has no values, never zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

HEAL_REASONS = ("scheduled", "healed by hand")  # a fault.stop reason that is a real heal
JUMP_S = 1.0  # a jump in load without a spawn rate takes the generator about a second
DRAIN_S = 1.0  # and what was sent while the load changed needs about a second more to complete


@dataclass(frozen=True)
class FaultInterval:
    name: str
    start: float
    end: float | None  # when it was healed; None: it did not end (still on when the run ended)

    @property
    def healed(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Window:
    name: str
    spans: tuple[tuple[float, float], ...]
    kind: str  # baseline | ramp | fault | faults | recovery | run | span
    note: str = ""  # e.g. "did not end", "while 'add an app instance' was still on"
    overlapping: tuple[str, ...] = field(default=())  # faults active in this window besides its own

    def contains(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.spans)

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.spans)

    @property
    def start(self) -> float | None:
        return self.spans[0][0] if self.spans else None

    @property
    def end(self) -> float | None:
        return self.spans[-1][1] if self.spans else None


class Segment(Protocol):
    """One step of a load shape, as the windows read it (``load.shape.Segment`` is one)."""

    @property
    def until(self) -> float: ...
    @property
    def level(self) -> float: ...
    @property
    def ramp(self) -> bool: ...
    @property
    def spawn_rate(self) -> float | None: ...


def steady_spans(segments: Sequence[Segment], duration: float, mode: str = "closed") -> list[tuple[float, float]]:
    """Where the load shape holds a level it has reached and settled at (pure).

    A hold segment is steady once the load got there and what was sent on the way has completed: at
    once when nothing changed; after a ramp, ``DRAIN_S``; after a jump, ``|Δ| / spawn_rate`` seconds
    when users are spawned at a rate (closed model) or ``JUMP_S``, plus ``DRAIN_S``. Ramps are never
    steady. After the last segment its level holds to ``duration``.
    """
    out: list[tuple[float, float]] = []
    start, level, after_ramp = 0.0, 0.0, False
    for seg in segments:
        end = min(seg.until, duration)
        if end <= start:
            break
        if not seg.ramp:
            change = abs(seg.level - level)
            if change > 0:
                settle = (change / seg.spawn_rate if mode == "closed" and seg.spawn_rate else JUMP_S) + DRAIN_S
            else:
                settle = DRAIN_S if after_ramp else 0.0
            if start + settle < end:
                out.append((start + settle, end))
        start, level, after_ramp = end, seg.level, seg.ramp
    if start < duration:
        out.append((start, duration))
    return _union(out)


def build_windows(duration: float, faults: Sequence[FaultInterval],
                  steady: Sequence[tuple[float, float]] | None = None) -> dict[str, Window]:
    """Windows on the run clock. ``steady`` (from ``steady_spans``) splits the time before the first
    fault into ``baseline`` and ``ramp``; without it the whole of it is the baseline."""
    windows = {"run": Window("run", ((0.0, duration),), "run")}
    if not faults:
        return windows
    spans = []
    for fault in faults:
        end = duration if fault.end is None else min(fault.end, duration)
        others = tuple(f.name for f in faults if f is not fault and _overlap(f, fault, duration))
        windows[fault.name] = Window(fault.name, ((fault.start, end),) if end > fault.start else (), "fault",
                                     "" if fault.healed else "did not end", others)
        spans.append((fault.start, end))
    first = min(f.start for f in faults)
    before = ((0.0, first),) if first > 0 else ()
    steady_before = _clip(steady if steady is not None else before, 0.0, first)
    windows["baseline"] = Window("baseline", tuple(steady_before), "baseline", "steady load before the first fault")
    ramp = _subtract(list(before), steady_before)
    if ramp:
        windows["ramp"] = Window("ramp", tuple(ramp), "ramp", "load still changing before the first fault")
    windows["fault"] = Window("fault", tuple(_union(spans)), "faults")
    windows["recovery"] = _recovery(faults, duration)
    return windows


def _recovery(faults: Sequence[FaultInterval], duration: float) -> Window:
    healed = [f for f in faults if f.healed]
    if not healed:
        return Window("recovery", (), "recovery", "no fault was healed")
    start = max(f.end for f in healed if f.end is not None)
    still_on = tuple(f.name for f in faults if not f.healed)
    note = f"while {', '.join(repr(n) for n in still_on)} was still on" if still_on else ""
    return Window("recovery", ((start, duration),) if start < duration else (), "recovery", note, still_on)


def _overlap(a: FaultInterval, b: FaultInterval, duration: float) -> bool:
    a_end = duration if a.end is None else a.end
    b_end = duration if b.end is None else b.end
    return a.start < b_end and b.start < a_end


def _union(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _clip(spans: Sequence[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in _union(spans) if min(b, hi) > max(a, lo)]


def _subtract(spans: list[tuple[float, float]], minus: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out = spans
    for m0, m1 in minus:
        nxt = []
        for a, b in out:
            if m1 <= a or m0 >= b:
                nxt.append((a, b))
                continue
            if a < m0:
                nxt.append((a, m0))
            if m1 < b:
                nxt.append((m1, b))
        out = nxt
    return out


def second_in(window: Window, t: int) -> bool:
    """A per-second record [t, t+1) counts for a window if its midpoint lies inside."""
    return window.contains(t + 0.5)
