"""The plotting machinery: panels, fault shading, a shared run-time axis, PNG writing.

A :class:`Panel` is a title and a function that draws on an ``Axes``; ``write_panels`` writes
each one as its own PNG and all of them stacked into ``dashboard.png``, every one over the same
``0 … duration`` seconds. The panels themselves (what a report shows) are in ``plots.py``.
"""


import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from faultdrill.analysis.windows import FaultInterval
from faultdrill.histograms import LoadSecond

FAULT_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
Colour = tuple[float, float, float]  # RGB, 0..1
_TAB10 = plt.get_cmap("tab10")
SERVICE_COLOURS: tuple[Colour, ...] = tuple(to_rgb(_TAB10(i)) for i in range(_TAB10.N))
ERROR_KINDS_SHOWN = 6
APP_SERIES_SHOWN = 5
CPU_CAPACITY_PCT = 50.0  # the talk's rule of thumb: above 50 %, plan more capacity
MiB = 1024 * 1024

Draw = Callable[[Axes], None]
Point = tuple[float, float | None]


@dataclass(frozen=True)
class Panel:
    key: str  # file stem: latency, throughput, app-web, …
    title: str
    draw: Draw
    height: float = 1.0  # relative height in the dashboard


@dataclass(frozen=True)
class PlotFile:
    key: str
    title: str
    path: Path


@dataclass(frozen=True)
class Skipped:
    key: str
    reason: str


@dataclass
class PanelSet:
    panels: list[Panel] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# --------------------------------------------------------------------------- shared axis
def shade_faults(ax: Axes, faults: Sequence[FaultInterval], duration: float, label: bool = True) -> None:
    """Shade each fault's real interval; label it at the top of the axes."""
    for i, fault in enumerate(faults):
        end = duration if fault.end is None else fault.end
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        ax.axvspan(fault.start, end, color=colour, alpha=0.12, lw=0, zorder=0)
        ax.axvline(fault.start, color=colour, lw=0.8, alpha=0.6, zorder=0)
        if label:
            ax.text(fault.start, 0.98, f" {fault.name}", transform=ax.get_xaxis_transform(), va="top",
                    ha="left", fontsize=8, color=colour, clip_on=True, zorder=10,
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})


def finish_axes(ax: Axes, panel: Panel, faults: Sequence[FaultInterval], duration: float,
                label_faults: bool) -> None:
    """The parts every panel shares: the run's x-range, title, grid, fault bands, legend in the margin."""
    ax.set_xlim(0, max(duration, 1.0))
    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    shade_faults(ax, faults, duration, label_faults)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        labels = [lab if len(lab) <= LEGEND_CHARS else lab[:LEGEND_CHARS - 1] + "…" for lab in labels]
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7.5, frameon=False,
                  borderaxespad=0.0)


# Fixed margins (not a layout engine) so every PNG's plot area starts and ends at the same pixel
# columns: stacked in the HTML, the panels' time axes line up exactly. Legends live in the right margin.
WIDTH_IN = 11.0
LEFT, RIGHT = 0.075, 0.80
TOP_IN, BOTTOM_IN, GAP_IN = 0.55, 0.5, 0.5
LEGEND_CHARS = 46


def write_panels(panels: Sequence[Panel], out_dir: Path, faults: Sequence[FaultInterval], duration: float,
                 title: str, dashboard: bool = True, singles: bool = True) -> dict[str, Path]:
    """One PNG per panel (``<key>.png``), and ``dashboard.png`` with all of them stacked."""
    written: dict[str, Path] = {}
    for panel in panels if singles else ():
        height = 2.1 + 1.5 * panel.height
        fig, ax = plt.subplots(figsize=(WIDTH_IN, height))
        try:
            fig.subplots_adjust(left=LEFT, right=RIGHT, top=1 - TOP_IN / height, bottom=BOTTOM_IN / height)
            panel.draw(ax)
            finish_axes(ax, panel, faults, duration, True)
            ax.set_xlabel("run time (s)")
            fig.suptitle(title, fontsize=8, color="#555555", x=0.01, y=0.995, ha="left", va="top")
            path = out_dir / f"{panel.key}.png"
            fig.savefig(path, dpi=100)
        finally:
            plt.close(fig)
        written[panel.key] = path
    if dashboard and panels:
        heights = [1.1 + 1.1 * p.height for p in panels]
        total = TOP_IN + 0.3 + BOTTOM_IN + sum(heights) + GAP_IN * (len(panels) - 1)
        fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH_IN, total), sharex=True, height_ratios=heights,
                                 squeeze=False)
        try:
            fig.subplots_adjust(left=LEFT, right=RIGHT, top=1 - (TOP_IN + 0.3) / total, bottom=BOTTOM_IN / total,
                                hspace=GAP_IN / (sum(heights) / len(heights)))
            for i, (panel, ax) in enumerate(zip(panels, axes[:, 0])):
                panel.draw(ax)
                finish_axes(ax, panel, faults, duration, i == 0)
            axes[-1, 0].set_xlabel("run time (s)")
            fig.suptitle(title, fontsize=11, y=1 - 0.15 / total, va="top")
            path = out_dir / "dashboard.png"
            fig.savefig(path, dpi=80)
        finally:
            plt.close(fig)
        written["dashboard"] = path
    return written


# --------------------------------------------------------------------------- small pure helpers
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def service_colours(services: Sequence[str]) -> dict[str, Colour]:
    return {name: SERVICE_COLOURS[i % len(SERVICE_COLOURS)] for i, name in enumerate(sorted(services))}


def _nan(v: float | None) -> float:
    return float("nan") if v is None else v


def _plot(ax: Axes, points: Sequence[Point], **kw: object) -> None:
    pts = sorted(points, key=lambda p: p[0])
    ax.plot([p[0] for p in pts], [_nan(p[1]) for p in pts], **kw)  # type: ignore[arg-type]


def counter_rates(points: Sequence[tuple[float, float]]) -> list[Point]:
    """Per-second rates of a monotonic counter; a reset (the value going down) gives no point."""
    pts = sorted(points)
    out: list[Point] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(pts):
        dt = t1 - t0
        out.append((t1, (v1 - v0) / dt if dt > 0 and v1 >= v0 else None))
    return out


def is_counter(metric: str) -> bool:
    return metric.endswith(("_total", "_count"))


SKIPPED_METRIC = re.compile(r"(_bucket|_created|_sum|_info)$|^python_gc_|^process_start_time")
RELEVANT_WORDS = re.compile(r"thread|pool|conn|queue|in_?flight|active|pending|wait|error|fail|timeout|"
                            r"latency|duration|saturat|busy|lock|retry|drop|reject", re.I)


def relevance(name: str, values: Sequence[float | None]) -> float:
    """How much a series is worth a place on a small panel: it moved during the run, and its name
    speaks of saturation or failure."""
    known = [v for v in values if v is not None]
    if not known:
        return -1.0
    spread = max(known) - min(known)
    scale = max(abs(sum(known) / len(known)), 1e-9)
    score = min(spread / scale, 10.0) if spread > 0 else 0.0
    if RELEVANT_WORDS.search(name):
        score += 2.0 if spread > 0 else 0.5
    return score


# --------------------------------------------------------------------------- load panels
def _mid(second: LoadSecond) -> float:
    return second.t + 0.5


def _tick_ms(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms" if value >= 1 else f"{value:.2g} ms"


def latency_axis(ax: Axes, values: Sequence[float]) -> bool:
    """Scale a latency axis: logarithmic when the slowest value is far above the typical one (a 20 s
    timeout over a 5 ms baseline), so both stay readable; ticks in ms/s. Returns whether it is log."""
    known = [v for v in values if v is not None and v > 0]
    log = bool(known) and max(known) / max(median(known), 1e-3) > 30
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(_tick_ms))
        ax.set_ylabel("latency (log scale)")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel("latency (ms)")
    return log
