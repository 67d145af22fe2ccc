"""Plots with fault windows shaded and labelled on the run's time axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from faultdrill.analysis.windows import FaultInterval  # noqa: E402
from faultdrill.load.histograms import LoadSecond, percentile_ms  # noqa: E402

FAULT_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def shade_faults(ax: Axes, faults: list[FaultInterval], duration: float) -> None:
    for i, fault in enumerate(faults):
        end = duration if fault.end is None else fault.end
        colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
        ax.axvspan(fault.start, end, color=colour, alpha=0.12, lw=0)
        ax.text(fault.start, 1.0, f" {fault.name}", transform=ax.get_xaxis_transform(), va="top", ha="left",
                fontsize=8, color=colour, clip_on=True)


def latency_plot(path: Path, seconds: list[LoadSecond], faults: list[FaultInterval], duration: float,
                 title: str) -> None:
    ts = [s.t + 0.5 for s in seconds]
    totals = [s.total() for s in seconds]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 1.3])
    for pct, style in ((50, "-"), (95, "--"), (99, ":")):
        values = [percentile_ms(t.hist, pct) for t in totals]
        ax.plot(ts, [v if v is not None else float("nan") for v in values], style, lw=1.4, label=f"p{pct}")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    shade_faults(ax, faults, duration)
    ok = [t.count - t.failures for t in totals]
    failed = [t.failures for t in totals]
    ax2.bar(ts, ok, width=1.0, color="#2ca02c", label="ok / s")
    ax2.bar(ts, failed, width=1.0, bottom=ok, color="#d62728", label="failed / s")
    ax2.set_ylabel("requests / s")
    ax2.set_xlabel("run time (s)")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper right", fontsize=8)
    ax2.set_xlim(0, duration)
    shade_faults(ax2, [], duration)
    for fault in faults:
        ax2.axvspan(fault.start, duration if fault.end is None else fault.end, color="#d62728", alpha=0.08, lw=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
