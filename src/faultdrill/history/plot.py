"""The trend PNG: one line per series over the last runs, each gate's noise band and bound shaded."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from faultdrill.history.trend import Trend


def write_trend_png(trend: Trend, path: Path) -> Path:
    n = len(trend.series)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.4 * n + 0.6), sharex=True, squeeze=False)
    xs = list(range(len(trend.runs)))
    labels = [f"{r.started[5:16].replace('T', ' ')}\n{r.git_sha[:8]}" for r in trend.runs]
    gated = {(v.gate.check or v.gate.label): v for v in trend.verdicts}
    for ax, name in zip(axes[:, 0], trend.series):
        ys = [r.values.get(name) for r in trend.runs]
        ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", color="#1f77b4", label=name)
        for x, r in zip(xs, trend.runs):
            if r.status not in ("passed", "failed"):
                ax.axvline(x, color="#999", linestyle=":", linewidth=1)
                ax.annotate(r.status, (x, 0), xycoords=("data", "axes fraction"), fontsize=7, color="#666",
                            rotation=90, va="bottom", ha="right")
        verdict = gated.get(name)
        if verdict is not None and verdict.spread is not None:
            low, high = verdict.spread.band()
            ax.axhspan(low, high, color="#2ca02c", alpha=0.15, label="noise band (median ± 3 MAD)")
            ax.axhline(verdict.spread.median, color="#2ca02c", linewidth=1)
            if verdict.bound is not None:
                ax.axhline(verdict.bound, color="#d62728", linestyle="--", linewidth=1,
                           label=f"bound {verdict.gate.text.rsplit(':', 1)[-1]}")
            if verdict.newest is not None:
                ax.plot([xs[-1]], [verdict.newest], marker="o", markersize=10, fillstyle="none",
                        color="#d62728" if verdict.tripped else "#2ca02c")
        ax.set_title(name, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xticks(xs, labels, fontsize=7)
    fig.suptitle(f"{trend.scenario}: last {len(trend.runs)} runs", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
