"""The interactive charts of ``report.html`` and ``compare.html``: the chart model as JSON, and the
script and styles that draw it, embedded inline so the page stays one file that works offline.

The charts are drawn by uPlot 1.6.32 (MIT; ``assets/uPlot.iife.min.js``, about 51 KB, and
``assets/uPlot.min.css``, about 2 KB; its licence is ``assets/uPlot.LICENSE``), chosen for its size,
its speed on long series and a stable API; ``assets/charts.js`` is ours: it builds one uPlot per chart
and links them all (cursor and zoom on one run-time axis), shades the faults, draws the markers and
guide lines, and keeps gaps as gaps (``null`` in the JSON: a break in the line).

A reader can zoom (drag across a chart, or the mouse wheel), pan (shift + drag), reset (double-click),
hover for the exact values (in the legend) and click a legend entry to hide or show its series.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from faultdrill.report.chart_model import Chart, Figure, Line

ASSETS = Path(__file__).parent / "assets"
UPLOT_VERSION = "1.6.32"
SIGNIFICANT = 5


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0
    digits = SIGNIFICANT - math.floor(math.log10(abs(value))) - 1
    rounded = round(value, max(digits, 0))
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 1e15 else rounded


def line_json(line: Line) -> dict[str, Any]:
    return {"label": line.label, "colour": line.colour, "style": line.style, "width": line.width,
            "axis": line.axis, "bars": line.bars, "group": line.group,
            "xs": [_round(t) for t, _ in line.points], "ys": [_round(v) for _, v in line.points]}


def chart_json(chart: Chart) -> dict[str, Any]:
    return {"key": chart.key, "title": chart.title, "unit": chart.unit, "right_unit": chart.right_unit,
            "log": chart.log, "note": chart.note, "height": chart.height,
            "guides": [{"value": g.value, "to": g.to, "label": g.label, "colour": g.colour, "axis": g.axis}
                       for g in chart.guides],
            "lines": [line_json(line) for line in chart.lines if line.points]}


def figure_json(figure: Figure) -> dict[str, Any]:
    return {"key": figure.key, "title": figure.title, "duration": figure.duration,
            "bands": [{"start": b.start, "end": b.end, "label": b.label, "colour": b.colour} for b in figure.bands],
            "markers": [{"t": m.t, "label": m.label, "kind": m.kind, "colour": m.colour} for m in figure.markers],
            "charts": [chart_json(c) for c in figure.charts if not c.empty()]}


def charts_payload(figures: Sequence[Figure]) -> Markup:
    """The figures as a JSON ``<script>`` the page's script reads (``</`` escaped: it cannot end the tag)."""
    text = json.dumps({"figures": [figure_json(f) for f in figures]}, separators=(",", ":"), allow_nan=False)
    return Markup('<script type="application/json" id="faultdrill-charts">'
                  + text.replace("</", "<\\/") + "</script>")


@lru_cache(maxsize=8)
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def inline_assets() -> Markup:
    """uPlot and our chart script and styles, inline (the page fetches nothing)."""
    return Markup(f"<style>{_asset('uPlot.min.css')}\n{_asset('charts.css')}</style>\n"
                  f"<script>{_asset('uPlot.iife.min.js')}</script>\n<script>{_asset('charts.js')}</script>")
