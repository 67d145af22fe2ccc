"""Incident vs fix on one page: two runs' story figures overlaid on one run clock (pure).

Run A (the reference — typically the incident) is drawn in blues, run B (the candidate — its fixed
twin) in oranges, line for line: the same golden signals, the same styles, so a reader compares the
two curves of one signal at a glance. The fault bands are the runs' own; when both ran the same
faults at the same times (a scenario and its fixed twin do), one set of bands serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from faultdrill.report.chart_model import Band, Chart, Figure, Line, Marker, is_log_scale
from faultdrill.report.data import RunData
from faultdrill.report.story import (
    annotation_markers,
    detection_markers,
    fault_bands,
    golden_charts,
    unique_markers,
)

RUN_SHADES = {"A": ("#1f77b4", "#6baed6", "#08519c", "#9ecae1", "#3182bd", "#c6dbef"),
              "B": ("#ff7f0e", "#fdae6b", "#a63603", "#fdd0a2", "#e6550d", "#feedde")}
LEFT_OUT = {"story-latency": ("p50 successful",)}  # one percentile per run keeps the overlay readable
SATURATION_KINDS = ("threads", "CPU", "connections")  # memory stays in each run's own report


def _saturation_kind(label: str) -> str:
    for kind in ("threads", "CPU", "memory", "connections"):
        if kind in label:
            return kind
    return label


def _run_lines(chart: Chart, run: str, run_id: str) -> list[Line]:
    keep = [ln for ln in chart.lines if ln.label not in LEFT_OUT.get(chart.key, ())]
    if chart.key == "story-saturation":  # per run the top line of each kind: threads, CPU, connections
        firsts: dict[str, Line] = {}
        for ln in keep:
            firsts.setdefault(_saturation_kind(ln.label), ln)
        keep = [ln for kind, ln in firsts.items() if kind in SATURATION_KINDS]
    shades = RUN_SHADES[run]
    return [replace(ln, label=f"{run}: {ln.label}", colour=shades[i % len(shades)], group=run)
            for i, ln in enumerate(keep)]


def overlay_charts(a: Sequence[Chart], b: Sequence[Chart], run_a: str = "A", run_b: str = "B") -> list[Chart]:
    """Each golden signal once, with A's lines and B's; a signal only one run has keeps that run's lines."""
    by_a, by_b = {c.key: c for c in a}, {c.key: c for c in b}
    keys = [c.key for c in a] + [c.key for c in b if c.key not in by_a]
    out = []
    for key in keys:
        ca, cb = by_a.get(key), by_b.get(key)
        base = ca or cb
        assert base is not None
        lines = (_run_lines(ca, "A", run_a) if ca else []) + (_run_lines(cb, "B", run_b) if cb else [])
        units = {c.unit for c in (ca, cb) if c}
        right = {c.right_unit for c in (ca, cb) if c and c.right_unit}
        title = base.title if len(units) == 1 else f"{base.title} (units differ between the runs)"
        log = base.unit == "ms" and is_log_scale([v for ln in lines for v in ln.values()])
        out.append(replace(base, title=f"{title} — A blue, B orange", lines=tuple(lines), log=log,
                           right_unit=next(iter(right)) if len(right) == 1 else None,
                           guides=(ca.guides if ca else ()) or (cb.guides if cb else ())))
    return out


def _same(x: Band, y: Band, slack: float) -> bool:
    return x.label == y.label and abs(x.start - y.start) <= slack and abs(x.end - y.end) <= slack


def merged_bands(a: Sequence[Band], b: Sequence[Band], slack: float = 2.0) -> tuple[Band, ...]:
    """One band for a fault both runs ran at the same time; a fault only one run had is named with its run."""
    only_b = [y for y in b if not any(_same(x, y, slack) for x in a)]
    shared = [x if any(_same(x, y, slack) for y in b) else replace(x, label=f"A: {x.label}") for x in a]
    return tuple(shared) + tuple(replace(y, label=f"B: {y.label}", colour="#8c564b") for y in only_b)


def _prefixed(markers: Sequence[Marker], run: str) -> list[Marker]:
    return [replace(m, label=f"{run}: {m.label}") for m in markers]


def compare_figure(data_a: RunData, summary_a: dict[str, Any], data_b: RunData, summary_b: dict[str, Any],
                   title: str) -> Figure:
    bands = merged_bands(fault_bands(summary_a), fault_bands(summary_b))
    markers = (_prefixed(detection_markers(summary_a) + annotation_markers(data_a.events), "A")
               + _prefixed(detection_markers(summary_b) + annotation_markers(data_b.events), "B"))
    duration = max(float(summary_a.get("duration_s") or 0), float(summary_b.get("duration_s") or 0), 1.0)
    charts = overlay_charts(golden_charts(data_a), golden_charts(data_b))
    return Figure("compare", title, tuple(charts), duration, bands, unique_markers(markers))
