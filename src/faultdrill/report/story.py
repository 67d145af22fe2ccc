"""The story figure: what happened, on one time axis, before any detail (pure).

Four golden signals, stacked over the same run clock:

* **latency** — p50 and p95 of the *successful* requests, with p95 of all requests (failures
  included) beside it, so fast failures never make the outage look fast;
* **traffic** — open model: arrivals due, sent and dropped per second (the load the users meant to
  send, and what never left); closed model: requests per second, with the users on a right axis;
* **errors** — failed attempts as % of attempts; in the open model a dropped arrival is an attempt
  that failed (what a user would have seen);
* **saturation** — threads, CPU, memory and connections as % of their limits (``saturation.py``).

Every chart shows the faults as they really ran (shaded), where each check's breach would have
alerted and where it recovered (``summary.json``'s detection rows), and the responders' annotations.
A second with nothing to say is a gap, never a zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from faultdrill.histograms import LoadSecond, percentile_ms
from faultdrill.report.chart_model import Band, Chart, Figure, Line, Marker, Point, is_log_scale, with_gaps
from faultdrill.report.data import RunData
from faultdrill.report.saturation import saturation_chart

FAULT_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
MARKER_COLOURS = {"detect": "#d62728", "recover": "#2ca02c", "annotation": "#6f42c1", "abort": "#000000"}
INGRESS_REQUESTS_LABEL = "ingress requests read /s"


def _mid(second: LoadSecond) -> float:
    return second.t + 0.5


def _load_line(seconds: Sequence[LoadSecond], value: Any) -> tuple[Point, ...]:
    return with_gaps([(_mid(s), value(s)) for s in seconds])


def open_model(seconds: Sequence[LoadSecond]) -> bool:
    return any(s.open is not None for s in seconds)


def latency_chart(seconds: Sequence[LoadSecond]) -> Chart:
    totals = {s.t: s.total() for s in seconds}

    def pct(p: float, ok: bool) -> Any:
        return lambda s: percentile_ms(totals[s.t].ok_hist if ok else totals[s.t].hist, p)

    lines = (Line("p95 successful", _load_line(seconds, pct(95, True)), "#ff7f0e", width=1.8),
             Line("p50 successful", _load_line(seconds, pct(50, True)), "#1f77b4"),
             Line("p95 all requests", _load_line(seconds, pct(95, False)), "#555555", style="dotted"))
    values = [v for line in lines for v in line.values()]
    return Chart("story-latency", "Latency: successful requests (p95 all requests dotted)", "ms", lines,
                 log=is_log_scale(values), height=1.2)


def ingress_traffic_lines(data: RunData) -> list[Line]:
    """The ingress's own count beside the clients' traffic: requests it read per second (nginx
    ``stub_status``, ``ingress.csv``), the number to hold against "sent /s" — a gap between the two is
    traffic the web tier never saw. (Its accepted *connections* are few with keep-alive clients; they
    are in the both-sides detail panel.) A rate over ``(t - step, t]`` is drawn at the middle of that
    span, the same second as the clients' bin. No ingress recorded: no line, never a guess."""
    if not data.ingress:
        return []
    from faultdrill.analysis.ingress import ingress_rates
    from faultdrill.report.ingress_plots import tick_step

    step = tick_step(data.ingress)
    rates = ingress_rates(data.ingress, step)
    return [Line(INGRESS_REQUESTS_LABEL if len(rates) == 1 else f"{service} requests read /s",
                 with_gaps([(t - step / 2, v) for t, v in series["requests_per_s"] if t - step / 2 >= 0], step),
                 "#222222", style="dotted", width=1.4)
            for service, series in sorted(rates.items())]


def traffic_chart(data: RunData) -> Chart:
    seconds = data.seconds
    extra = ingress_traffic_lines(data)
    if open_model(seconds):
        def field(name: str) -> Any:
            return lambda s: None if s.open is None else float(getattr(s.open, name))

        lines: tuple[Line, ...] = (Line("arrivals due /s", _load_line(seconds, field("intended")), "#1f77b4", width=1.8),
                 Line("sent /s", _load_line(seconds, field("sent")), "#2ca02c", style="dashed"),
                 Line("dropped /s", _load_line(seconds, field("dropped")), "#d62728", bars=True))
        if extra:  # an arrival can be several HTTP requests: hold the ingress's count against the requests
            lines += (Line("requests /s", _load_line(seconds, lambda s: float(s.total().count)), "#9467bd",
                           width=1.2),)
        return Chart("story-traffic", "Traffic: arrivals due vs sent; dropped arrivals never left", "per second",
                     lines + tuple(extra))
    lines = (Line("requests /s", _load_line(seconds, lambda s: float(s.total().count)), "#1f77b4", width=1.8),
             Line("users", _load_line(seconds, lambda s: float(s.users)), "#17becf", style="dashed", axis="right"))
    return Chart("story-traffic", "Traffic: requests completed per second (users on the right)", "per second",
                 lines + tuple(extra), right_unit="users")


def error_pct(second: LoadSecond) -> float | None:
    """Failed attempts as % of attempts; a dropped arrival (open model) is a failed attempt. No attempt: None."""
    total = second.total()
    dropped = second.open.dropped if second.open is not None else 0
    attempts = total.count + dropped
    return None if attempts == 0 else 100.0 * (total.failures + dropped) / attempts


def errors_chart(seconds: Sequence[LoadSecond]) -> Chart:
    what = "failed or dropped" if open_model(seconds) else "failed"
    line = Line(f"{what} % of attempts", _load_line(seconds, error_pct), "#d62728", width=1.8)
    return Chart("story-errors", f"Errors: {what} attempts, % of all attempts", "% of attempts", (line,), height=0.8)


def sample_interval(data: RunData) -> float:
    """The recorder's tick, read from its samples (the most common step between one service's samples)."""
    steps: dict[float, int] = {}
    for rows in (data.resources, data.connections):
        ticks: dict[str, set[float]] = {}
        for r in rows:
            ticks.setdefault(r.service, set()).add(r.t)
        for ts in ticks.values():
            ordered = sorted(ts)
            for a, b in itertools.pairwise(ordered):
                steps[round(b - a, 3)] = steps.get(round(b - a, 3), 0) + 1
    return max(steps, key=lambda k: (steps[k], -k)) if steps else 1.0


def golden_charts(data: RunData, interval: float | None = None) -> list[Chart]:
    """The four golden signals of a run, on the run clock (an empty list when no load was recorded).
    ``interval``: the recorder's tick (default: read from the samples)."""
    interval = interval or sample_interval(data)
    charts = []
    if data.seconds:
        charts += [latency_chart(data.seconds), traffic_chart(data), errors_chart(data.seconds)]
    saturation = saturation_chart(data, interval)
    if saturation is not None:
        charts.append(saturation)
    return charts


def fault_bands(summary: dict[str, Any]) -> tuple[Band, ...]:
    return tuple(Band(float(f["start"]), float(f["end"]), str(f["name"]), FAULT_COLOURS[i % len(FAULT_COLOURS)])
                 for i, f in enumerate(summary.get("faults") or []))


def _secs(value: Any) -> str:
    return f"{float(value):.0f} s"


def detection_markers(summary: dict[str, Any]) -> list[Marker]:
    """Where each check's breach would have alerted and where it recovered (expectations: shown / gone)."""
    out: list[Marker] = []
    for row in summary.get("detection") or []:
        check, fault = row.get("check"), row.get("fault")
        expectation = row.get("role") == "expectation"
        if row.get("detected_at") is not None:
            ttd = row.get("time_to_detect_s")
            after = f" ({_secs(ttd)} after {fault} began)" if ttd is not None else ""
            verb = "shown" if expectation else "breached"
            out.append(Marker(float(row["detected_at"]), f"{check} {verb}{after}", "detect", MARKER_COLOURS["detect"]))
        if row.get("recovered_at") is not None:
            ttr = row.get("time_to_recover_s")
            healer = row.get("recovered_after") or fault
            after = f" ({_secs(ttr)} after {healer} healed)" if ttr is not None else ""
            verb = "gone" if expectation else "recovered"
            out.append(Marker(float(row["recovered_at"]), f"{check} {verb}{after}", "recover",
                              MARKER_COLOURS["recover"]))
    aborted = summary.get("aborted")
    if aborted and aborted.get("at") is not None:
        out.append(Marker(float(aborted["at"]), f"drill aborted: {aborted.get('detail') or aborted.get('rule')}",
                          "abort", MARKER_COLOURS["abort"]))
    return out


def annotation_markers(events: Sequence[dict[str, Any]]) -> list[Marker]:
    """A responder's marks on the run clock (``faultdrill annotate`` during a game day)."""
    return [Marker(float(e["t"]), f"{e.get('annotation') or 'note'}: {e.get('text') or ''}".strip(": "),
                   "annotation", MARKER_COLOURS["annotation"])
            for e in events if e.get("kind") == "annotation" and e.get("t") is not None]


def unique_markers(markers: Sequence[Marker]) -> tuple[Marker, ...]:
    seen: set[tuple[float, str]] = set()
    out = []
    for m in sorted(markers, key=lambda m: m.t):
        if (round(m.t, 3), m.label) not in seen:
            seen.add((round(m.t, 3), m.label))
            out.append(m)
    return tuple(out)


def story_figure(data: RunData, summary: dict[str, Any], title: str, interval: float | None = None) -> Figure:
    """The "what happened" figure: golden signals, fault bands, check and annotation markers."""
    markers = detection_markers(summary) + annotation_markers(data.events)
    duration = float(summary.get("duration_s") or max([s.t + 1 for s in data.seconds] + [1]))
    return Figure("story", title, tuple(golden_charts(data, interval)), duration, fault_bands(summary),
                  unique_markers(markers))
