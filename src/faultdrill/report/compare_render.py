"""Writing a :class:`~faultdrill.report.compare.CompareResult`: the overlay plot, Markdown and HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from faultdrill.load.histograms import LoadSecond, percentile_ms  # noqa: E402
from faultdrill.report import format as fmt  # noqa: E402
from faultdrill.report.compare import CompareResult, Delta  # noqa: E402
from faultdrill.report.markdown import table  # noqa: E402
from faultdrill.report.drawing import latency_axis  # noqa: E402

RUN_COLOURS = {"A": "#1f77b4", "B": "#ff7f0e"}


def _shade(ax: Axes, faults: Sequence[dict[str, Any]], run: str, label: bool) -> None:
    """A's faults in the top half of the axes, B's in the bottom half, each in its run's colour."""
    lo, hi = (0.5, 1.0) if run == "A" else (0.0, 0.5)
    colour = RUN_COLOURS[run]
    for f in faults:
        ax.axvspan(f["start"], f["end"], ymin=lo, ymax=hi, color=colour, alpha=0.13, lw=0, zorder=0)
        if label:
            ax.text(f["start"], hi - 0.02, f" {run}: {f['name']}", transform=ax.get_xaxis_transform(), va="top",
                    ha="left", fontsize=8, color=colour, clip_on=True)


def compare_plot(path: Path, a: Sequence[LoadSecond], b: Sequence[LoadSecond], result: CompareResult) -> None:
    duration = max(float(result.summary_a.get("duration_s") or 0), float(result.summary_b.get("duration_s") or 0),
                   1.0)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, height_ratios=[2.2, 1])
    values: list[float] = []
    for run, seconds in (("A", a), ("B", b)):
        totals = [(s.t + 0.5, s.total()) for s in seconds]
        run_id = result.run_a if run == "A" else result.run_b
        for pct, style, lw in ((95, "-", 1.6), (50, "--", 1.1)):
            ys = [percentile_ms(t.ok_hist, pct) for _, t in totals]  # successful requests
            values += [y for y in ys if y is not None]
            ax.plot([t for t, _ in totals], [float("nan") if y is None else y for y in ys], ls=style, lw=lw,
                    color=RUN_COLOURS[run], label=f"{run} p{pct} ({run_id})" if pct == 95 else f"{run} p{pct}")
        ax2.plot([t for t, _ in totals], [t.count for _, t in totals], color=RUN_COLOURS[run], lw=1.3,
                 label=f"{run} requests/s")
        ax2.plot([t for t, _ in totals], [t.failures for _, t in totals], color=RUN_COLOURS[run], lw=1.0, ls=":",
                 label=f"{run} failed/s")
    latency_axis(ax, values)
    for axis in (ax, ax2):
        _shade(axis, result.summary_a.get("faults", []), "A", axis is ax)
        _shade(axis, result.summary_b.get("faults", []), "B", axis is ax)
        axis.grid(alpha=0.3)
        axis.set_xlim(0, duration)
        axis.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7.5, frameon=False, borderaxespad=0)
    ax.set_title(f"Latency of successful requests, A = {result.run_a} vs B = {result.run_b} (solid p95, dashed p50)",
                 fontsize=10,
                 loc="left")
    ax2.set_ylabel("requests / s")
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("run time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _value(metric: str, v: float | None) -> str:
    return fmt.metric_value(metric, v) if metric != "rps" else fmt.number(v)


def _delta(metric: str, d: float | None) -> str:
    if d is None:
        return "–"
    if metric == "error_rate":
        return f"{d * 100:+.2f} pp"
    if metric.endswith("_ms"):
        return f"{d:+.1f} ms"
    return f"{d:+.4g}"


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{p:+.1f} %"


def delta_rows(result: CompareResult) -> list[list[str]]:
    rows = []
    last = None
    for d in result.windows:
        rows.append([d.window if d.window != last else "", d.metric, _value(d.metric, d.a), _value(d.metric, d.b),
                     _delta(d.metric, d.delta), _pct(d.delta_pct)])
        last = d.window
    return rows


def check_rows(result: CompareResult, marks: tuple[str, str] = ("✅", "❌")) -> list[list[str]]:
    """``marks``: (passed, failed); the HTML uses text glyphs, which render without an emoji font."""
    def mark(p: bool | None) -> str:
        return "–" if p is None else (marks[0] if p else marks[1])

    return [[c.name, fmt.window_label(c.window), c.metric, _value(c.metric, c.a), _value(c.metric, c.b),
             _delta(c.metric, c.delta), _pct(c.delta_pct), mark(c.a_passed), mark(c.b_passed)]
            for c in result.checks]


def verdict(result: CompareResult) -> str:
    if not result.gates:
        return "no regression gates given"
    if result.failed:
        return f"REGRESSION — {len(result.tripped)} of {len(result.gates)} gates tripped"
    return f"OK — all {len(result.gates)} gates held"


def render_compare_markdown(result: CompareResult) -> str:
    icon = "❌" if result.failed else ("✅" if result.gates else "ℹ️")
    lines = [f"## {icon} faultdrill compare — {verdict(result)}", "",
             f"A (reference): `{result.run_a}` · {result.summary_a.get('scenario')} · "
             f"{result.summary_a.get('verdict', result.summary_a.get('status'))}  ",
             f"B (candidate): `{result.run_b}` · {result.summary_b.get('scenario')} · "
             f"{result.summary_b.get('verdict', result.summary_b.get('status'))}", ""]
    if result.gates:
        lines += ["### Gates", ""] + [f"- {'❌' if g.tripped else '✅'} `{g.gate.text}` — {g.reason}"
                                      for g in result.gates] + [""]
    lines += ["### Windows", ""] + table(["window", "metric", "A", "B", "Δ", "Δ %"], delta_rows(result)) + [""]
    for run, names in (("A", result.windows_only_in_a), ("B", result.windows_only_in_b)):
        if names:
            lines += [f"Windows only in {run}: {', '.join(names)}", ""]
    if result.checks:
        lines += ["### Checks", ""] + table(["check", "window", "metric", "A", "B", "Δ", "Δ %", "A", "B"],
                                             check_rows(result)) + [""]
    return "\n".join(lines).rstrip() + "\n"


def render_compare_html(result: CompareResult, png: Path | None) -> str:
    from faultdrill.report.html import data_uri, environment

    return environment().get_template("compare.html.j2").render(
        r=result, verdict=verdict(result), delta_rows=delta_rows(result),
        check_rows=check_rows(result, ("✔ pass", "✘ fail")),
        image=data_uri(png) if png else None)


__all__ = ["Delta", "compare_plot", "render_compare_html", "render_compare_markdown"]
