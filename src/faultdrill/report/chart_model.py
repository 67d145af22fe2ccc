"""What a chart shows, independent of how it is drawn (pure, typed).

The same :class:`Figure` is drawn twice: as a PNG by matplotlib (``figure_png.py``, for
``summary.md``, PR comments and the pytest plugin) and as an interactive chart in ``report.html``
(``interactive.py``). Neither renderer decides what the data says; this model does.

Points are ``(t, value)`` on the run clock (0 = load start). A value of ``None`` is a gap — nothing
was known there — and is drawn as a break in the line, never as 0. A load second ``[t, t+1)`` sits
at its midpoint ``t + 0.5``; a sample at its own instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Point = tuple[float, "float | None"]
Axis = Literal["left", "right"]
Style = Literal["solid", "dashed", "dotted"]
MarkerKind = Literal["detect", "recover", "annotation", "abort"]

GAP_STEPS = 1.5  # consecutive points further apart than this many steps have a gap between them


@dataclass(frozen=True)
class Line:
    """One series: a label a reader sees in the legend, its points, and how it looks."""

    label: str
    points: tuple[Point, ...]
    colour: str
    style: Style = "solid"
    width: float = 1.5
    axis: Axis = "left"
    bars: bool = False  # drawn as per-second bars (a count per second) instead of a line
    group: str = ""  # lines of two compared runs: "A" / "B" ("" for a single run)

    def values(self) -> list[float]:
        return [v for _, v in self.points if v is not None]


@dataclass(frozen=True)
class Band:
    """A span of time, shaded: a fault as it really ran."""

    start: float
    end: float
    label: str
    colour: str


@dataclass(frozen=True)
class Marker:
    """A moment: where a check's breach would have alerted, where it recovered, a responder's note."""

    t: float
    label: str
    kind: MarkerKind
    colour: str


@dataclass(frozen=True)
class GuideLine:
    """A horizontal reference on one axis (a capacity rule); ``to`` makes it a band from value to ``to``."""

    value: float
    label: str
    colour: str
    to: float | None = None
    axis: Axis = "left"


@dataclass(frozen=True)
class Chart:
    """One panel: lines over the run clock, on a left axis (``unit``) and optionally a right one."""

    key: str
    title: str
    unit: str
    lines: tuple[Line, ...]
    right_unit: str | None = None
    guides: tuple[GuideLine, ...] = ()
    log: bool = False  # a latency axis whose slowest value dwarfs the typical one
    note: str = ""  # said under the title (what is left out and why)
    section: str = "story"  # story | saturation | latency | errors | traffic (the seed's "what to watch")
    height: float = 1.0  # relative height in a stacked figure

    def empty(self) -> bool:
        return not any(line.values() for line in self.lines)


@dataclass(frozen=True)
class Figure:
    """Charts stacked on one shared time axis, with the fault bands and markers every chart shows."""

    key: str
    title: str
    charts: tuple[Chart, ...]
    duration: float
    bands: tuple[Band, ...] = ()
    markers: tuple[Marker, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def with_gaps(points: Iterable[Point], step: float = 1.0) -> tuple[Point, ...]:
    """Points sorted by time, with an explicit gap (``None``) wherever consecutive points lie more than
    ``GAP_STEPS`` steps apart — so no renderer ever joins two real points across missing data."""
    pts = sorted(points, key=lambda p: p[0])
    out: list[Point] = []
    for point in pts:
        if out and point[0] - out[-1][0] > GAP_STEPS * step and out[-1][1] is not None:
            out.append(((out[-1][0] + point[0]) / 2, None))
        out.append(point)
    return tuple(out)


def is_log_scale(values: Sequence[float]) -> bool:
    """A latency axis is logarithmic when its slowest value is far above the fast quarter of the run (a
    20 s timeout over a 5 ms baseline keeps both readable, even when the slow part is most of the run)."""
    known = sorted(v for v in values if v is not None and v > 0)
    if not known:
        return False
    fast = known[len(known) // 4]
    return known[-1] / max(fast, 1e-3) > 30


def marker_clusters(markers: Sequence[Marker], within: float) -> list[tuple[int, float, str]]:
    """Markers close in time share one numbered badge: (index of the first, time, badge text like "4+")."""
    out: list[tuple[int, float, str]] = []
    for i, m in enumerate(markers, 1):
        if out and m.t - out[-1][1] <= within:
            first, t, _ = out[-1]
            out[-1] = (first, t, f"{first}+")
        else:
            out.append((i, m.t, str(i)))
    return out
