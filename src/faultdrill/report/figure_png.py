"""Drawing a :class:`~faultdrill.report.chart_model.Figure` as one PNG (matplotlib): ``story.png``,
``compare.png``. The interactive page draws the same model in the browser (``interactive.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from faultdrill.report.chart_model import Band, Chart, Figure, Line, marker_clusters

WIDTH_IN = 13.0
LEFT, RIGHT = 0.065, 0.70  # the legends sit right of the plots
LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":"}
MARKER_STYLES = {"detect": ("--", 1.2), "recover": ("-.", 1.2), "annotation": (":", 1.4), "abort": ("-", 2.0)}


def _tick_ms(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms" if value >= 1 else f"{value:.2g} ms"


def _draw_line(ax: Axes, line: Line) -> None:
    xs = [t for t, _ in line.points]
    ys = [float("nan") if v is None else v for _, v in line.points]
    if line.bars:
        ax.bar(xs, ys, width=1.0, color=line.colour, alpha=0.55, lw=0, label=line.label)
    else:
        ax.plot(xs, ys, ls=LINESTYLES[line.style], lw=line.width, color=line.colour, label=line.label)


def _bands(ax: Axes, bands: Sequence[Band], label: bool) -> None:
    """Faults shaded; on the first chart their names go in the legend (labels on the plot would overlap)."""
    for band in bands:
        ax.axvspan(band.start, band.end, color=band.colour, alpha=0.10, lw=0, zorder=0,
                   label=f"fault: {band.label}" if label else None)


def _markers(ax: Axes, figure: Figure, numbered: bool) -> None:
    for m in figure.markers:
        style, width = MARKER_STYLES[m.kind]
        ax.axvline(m.t, color=m.colour, ls=style, lw=width, alpha=0.85, zorder=3)
    if not numbered:
        return
    colour = {i: m.colour for i, m in enumerate(figure.markers, 1)}
    for first, t, text in marker_clusters(figure.markers, 0.015 * max(figure.duration, 1.0)):
        ax.text(t, 0.93, text, transform=ax.get_xaxis_transform(), va="top", ha="center", fontsize=7,
                color="white", zorder=4, bbox={"boxstyle": "round,pad=0.2", "fc": colour[first], "ec": "none"})


def draw_chart(ax: Axes, chart: Chart, figure: Figure, first: bool) -> None:
    right_ax = ax.twinx() if any(line.axis == "right" for line in chart.lines) else None
    for line in chart.lines:
        _draw_line(right_ax if (line.axis == "right" and right_ax is not None) else ax, line)
    for guide in chart.guides:
        if guide.to is not None:
            ax.axhspan(guide.value, guide.to, color=guide.colour, alpha=0.10, lw=0, label=guide.label)
        else:
            ax.axhline(guide.value, color=guide.colour, ls="--", lw=1.0, label=guide.label)
    if chart.log and not chart.empty():
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.set_ylim(bottom=0)
        guide_top = max([g.to if g.to is not None else g.value for g in chart.guides], default=0.0)
        if guide_top and ax.get_ylim()[1] < guide_top * 1.1:
            ax.set_ylim(top=guide_top * 1.1)  # a capacity line never sits on the frame
    if chart.unit == "ms":
        ax.yaxis.set_major_formatter(FuncFormatter(_tick_ms))
    ax.set_ylabel(chart.unit + (" (log)" if chart.log else ""), fontsize=8)
    _bands(ax, figure.bands, first)
    _markers(ax, figure, first)
    ax.set_title(chart.title + (f" — {chart.note}" if chart.note else ""), fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    ax.set_xlim(0, max(figure.duration, 1.0))
    handles, labels = ax.get_legend_handles_labels()
    if right_ax is not None:
        right_ax.set_ylim(bottom=0)
        right_ax.set_ylabel(chart.right_unit or "", fontsize=8)
        more = right_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.06 if right_ax else 1.005, 1.0), fontsize=7.5,
                  frameon=False, borderaxespad=0)


def marker_lines(figure: Figure) -> list[str]:
    """The numbered markers as text lines (under the PNG, and in the HTML's marker list)."""
    return [f"{i}. t={m.t:.0f} s — {m.label}" for i, m in enumerate(figure.markers, 1)]


def write_figure_png(figure: Figure, path: Path, dpi: int = 90) -> Path:
    charts = [c for c in figure.charts]
    if not charts:
        raise ValueError("the figure has no chart to draw")
    heights = [1.9 * c.height for c in charts]
    notes = marker_lines(figure)
    legend_rows = len(notes)
    foot = 0.5 + 0.16 * legend_rows
    total = 0.75 + sum(heights) + 0.45 * (len(charts) - 1) + foot
    fig, axes = plt.subplots(len(charts), 1, figsize=(WIDTH_IN, total), sharex=True, height_ratios=heights,
                             squeeze=False)
    try:
        fig.subplots_adjust(left=LEFT, right=RIGHT, top=1 - 0.75 / total, bottom=foot / total,
                            hspace=0.45 / (sum(heights) / len(heights)))
        for i, (chart, ax) in enumerate(zip(charts, axes[:, 0])):
            draw_chart(ax, chart, figure, i == 0)
        axes[-1, 0].set_xlabel("run time (s)", fontsize=8)
        fig.suptitle(figure.title, fontsize=11, x=0.01, ha="left", y=1 - 0.12 / total, va="top")
        if notes:
            fig.text(0.01, (foot - 0.38) / total, "\n".join(notes), fontsize=7.5, va="top", ha="left",
                     family="monospace")
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path
