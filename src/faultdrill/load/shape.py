"""Load shapes as pure functions of the run clock (after ``locust/shape.py``).

A shape is a list of ``Segment``\\ s. Each segment ends at ``until`` (seconds on the run clock) and
holds ``level`` — concurrent users in the closed model, arrivals per second in the open model —
either for the whole segment, or (``ramp=True``) reached linearly from the previous segment's level
(0 before the first). After the last segment the last level holds until the drill's duration.

Helpers build segment lists for the shapes ticketing traffic has: ``spike`` (baseline → the sale
opens → peak → decay) and ``steps`` (a staircase). ``arrival_times`` turns an open-model rate shape
into the exact intended send times, and can deal them out round-robin to several workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    until: float
    level: float
    ramp: bool = False
    spawn_rate: float | None = None  # closed model, hold segments only: Locust's users started per second

    def __post_init__(self) -> None:
        if self.level < 0 or not math.isfinite(self.level):
            raise ValueError(f"a shape level must be a finite number >= 0, got {self.level!r}")


def check_segments(segments: Sequence[Segment]) -> None:
    if not segments:
        raise ValueError("a shape needs at least one segment")
    last = 0.0
    for i, seg in enumerate(segments):
        if seg.until <= last:
            raise ValueError(f"segment {i} ends at {seg.until:g}s, not after the previous one ({last:g}s)")
        last = seg.until


def _bounds(segments: Sequence[Segment], t: float) -> tuple[int, float, float]:
    """(index of the segment containing t, its start time, the level it starts from)."""
    start, start_level = 0.0, 0.0
    for i, seg in enumerate(segments):
        if t < seg.until:
            return i, start, start_level
        start, start_level = seg.until, seg.level
    return len(segments), start, start_level


def level_at(segments: Sequence[Segment], t: float) -> float:
    """The shape's level at run time ``t`` (the last level holds after the last segment)."""
    i, start, start_level = _bounds(segments, t)
    if i == len(segments):
        return segments[-1].level
    seg = segments[i]
    if not seg.ramp:
        return seg.level
    frac = (t - start) / (seg.until - start)
    return start_level + (seg.level - start_level) * frac


def closed_target(segments: Sequence[Segment], t: float, duration: float) -> tuple[int, float] | None:
    """(users, spawn rate) for Locust's shape tick at run time ``t``; None once the drill is over.

    Locust ticks about once a second. In a ramp the target is the level one second ahead and the
    spawn rate is the ramp's slope, so users rise (or fall) smoothly along the line. A hold segment
    without ``spawn_rate`` jumps to its user count at once, up or down.
    """
    if t >= duration:
        return None
    i, start, start_level = _bounds(segments, t)
    if i == len(segments):
        last = segments[-1]
        return round(last.level), float(max(last.level, 1))
    seg = segments[i]
    if not seg.ramp:
        return round(seg.level), seg.spawn_rate or float(max(seg.level, start_level, 1))
    slope = abs(seg.level - start_level) / (seg.until - start)
    ahead = level_at(segments, min(t + 1.0, seg.until))
    return round(ahead), max(slope, 1.0)


@dataclass(frozen=True)
class _Piece:
    start: float
    end: float
    level0: float  # level at start
    slope: float  # level per second
    cum0: float  # arrivals scheduled before start


def _pieces(segments: Sequence[Segment], duration: float) -> list[_Piece]:
    pieces: list[_Piece] = []
    start, level, cum = 0.0, 0.0, 0.0
    for seg in segments:
        end = min(seg.until, duration)
        if end <= start:
            break
        if seg.ramp:
            slope = (seg.level - level) / (seg.until - start)
            level0 = level
        else:
            slope, level0 = 0.0, seg.level
        pieces.append(_Piece(start, end, level0, slope, cum))
        width = end - start
        cum += level0 * width + 0.5 * slope * width * width
        start, level = end, level0 + slope * width
    if start < duration:
        pieces.append(_Piece(start, duration, segments[-1].level, 0.0, cum))
    return pieces


def cumulative(segments: Sequence[Segment], t: float) -> float:
    """Arrivals an open-model rate shape schedules in [0, t) (the integral of the rate)."""
    total = 0.0
    for piece in _pieces(segments, max(t, 0.0)):
        width = piece.end - piece.start
        total = piece.cum0 + piece.level0 * width + 0.5 * piece.slope * width * width
    return total


def planned_at(segments: Sequence[Segment], t: int, duration: float, *, open_model: bool) -> float:
    """What the shape asks of second ``t``: arrivals intended in [t, t+1) (open), or the users it
    holds at the second's middle (closed). 0 outside the run."""
    if t < 0 or t >= duration:
        return 0.0
    if open_model:
        end = min(t + 1.0, duration)
        return cumulative(segments, end) - cumulative(segments, float(t))
    return float(round(level_at(segments, t + 0.5)))


def arrival_times(segments: Sequence[Segment], duration: float, *, index: int = 0, stride: int = 1,
                  start: float = 0.0) -> Iterator[float]:
    """Intended send times (run clock seconds) of arrivals ``index``, ``index + stride``, … in [start, duration).

    Arrival ``k`` is due when the integral of the rate reaches ``k``, so arrival 0 is at the first
    moment the rate is positive and a constant rate ``r`` spaces arrivals exactly ``1/r`` apart.
    With ``stride`` workers, worker ``index`` takes every ``stride``-th arrival of the one global
    schedule: together they send exactly the shape, interleaved.
    """
    if stride < 1 or not 0 <= index < stride:
        raise ValueError(f"index {index} / stride {stride}: need 0 <= index < stride")
    pieces = _pieces(segments, duration)
    k = index
    if start > 0:  # skip to the first arrival at or after start
        before = cumulative(segments, start)
        k = index + stride * max(0, math.ceil((before - index) / stride))
    p = 0
    while p < len(pieces):
        piece = pieces[p]
        width = piece.end - piece.start
        if k >= piece.cum0 + piece.level0 * width + 0.5 * piece.slope * width * width:
            p += 1  # arrival k falls in a later piece
            continue
        # Arrival k is due when the integral reaches k: solve level0*x + slope*x^2/2 = d for x in
        # [0, width). The stable form below also covers slope == 0 and ramps starting from 0.
        d = max(k - piece.cum0, 0.0)
        denom = piece.level0 + math.sqrt(max(piece.level0 * piece.level0 + 2.0 * piece.slope * d, 0.0))
        x = 2.0 * d / denom if denom > 0 else 0.0
        t = piece.start + min(x, width)
        if t >= start:
            yield t
        k += stride


def spike(*, baseline: float, peak: float, at: float, rise: float, hold: float, decay: float, end: float,
          after: float | None = None) -> list[Segment]:
    """Ticket-sale traffic: ``baseline`` until the sale opens ``at``, a linear rise to ``peak`` over
    ``rise`` seconds, ``hold`` at the peak, a linear decay over ``decay`` to ``after`` (default the
    baseline), which holds until ``end``."""
    after = baseline if after is None else after
    if min(at, rise, hold, decay) < 0:
        raise ValueError("spike times must not be negative")
    marks = [(at, baseline, False), (at + rise, peak, rise > 0), (at + rise + hold, peak, False),
             (at + rise + hold + decay, after, decay > 0)]
    if end < marks[-1][0]:
        raise ValueError(f"spike ends at {end:g}s, before its decay is over ({marks[-1][0]:g}s)")
    marks.append((end, after, False))
    segments: list[Segment] = []
    last = 0.0
    for until, level, ramp in marks:
        if until > last:
            segments.append(Segment(until, float(level), ramp))
            last = until
    return segments


def steps(levels: Sequence[float], every: float, *, ramp: bool = False) -> list[Segment]:
    """A staircase: each level for ``every`` seconds (``ramp``: slide to each level instead of jumping)."""
    if every <= 0:
        raise ValueError(f"steps need every > 0, got {every!r}")
    if not levels:
        raise ValueError("steps need at least one level")
    return [Segment(every * (i + 1), float(level), ramp) for i, level in enumerate(levels)]
