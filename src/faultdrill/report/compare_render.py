"""Writing a :class:`~faultdrill.report.compare.CompareResult`: Markdown and HTML (the overlaid story
figure itself is built by ``compare_story.py`` and drawn by ``figure_png.py`` / ``interactive.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultdrill.report import format as fmt
from faultdrill.report.chart_model import Figure
from faultdrill.report.compare import CompareResult, Delta
from faultdrill.report.markdown import table


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


def render_compare_markdown(result: CompareResult, png: str | None = None) -> str:
    """``png``: the overlaid story figure's path relative to compare.md (linked under the runs)."""
    icon = "❌" if result.failed else ("✅" if result.gates else "ℹ️")
    lines = [f"## {icon} faultdrill compare — {verdict(result)}", "",
             f"A (reference): `{result.run_a}` · {result.summary_a.get('scenario')} · "
             f"{result.summary_a.get('verdict', result.summary_a.get('status'))}  ",
             f"B (candidate): `{result.run_b}` · {result.summary_b.get('scenario')} · "
             f"{result.summary_b.get('verdict', result.summary_b.get('status'))}", ""]
    if png:
        lines += [f"![Incident vs fix: A and B on one run clock]({png})", ""]
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


def side_by_side(summary_a: dict[str, Any], summary_b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every check of either run, once: (name, A's judged row or None, B's or None)."""
    a = {c["name"]: c for c in summary_a.get("checks") or []}
    b = {c["name"]: c for c in summary_b.get("checks") or []}
    return [(name, a.get(name), b.get(name)) for name in list(a) + [n for n in b if n not in a]]


def render_compare_html(result: CompareResult, png: Path | None, figure: Figure | None = None) -> str:
    from faultdrill.report.figure_png import marker_lines
    from faultdrill.report.html import data_uri, environment
    from faultdrill.report.interactive import charts_payload, inline_assets

    return environment().get_template("compare.html.j2").render(
        r=result, verdict=verdict(result), delta_rows=delta_rows(result),
        check_rows=check_rows(result, ("✔ pass", "✘ fail")), side_by_side=side_by_side(result.summary_a,
                                                                                          result.summary_b),
        image=data_uri(png) if png else None, story=figure if figure and figure.charts else None,
        story_markers=marker_lines(figure) if figure else [],
        charts_payload=charts_payload([figure]) if figure and figure.charts else "",
        chart_assets=inline_assets() if figure and figure.charts else "")


__all__ = ["Delta", "render_compare_html", "render_compare_markdown", "side_by_side"]
