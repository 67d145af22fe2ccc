"""The detail charts under the story, grouped by the seed's "what to watch" (pure).

* **usage and saturation** — load (completed / failed per second, the open model's arrivals), TCP
  connections per service, CPU (with 50 % of each service's capacity), memory and threads vs their
  limits, the app's own gauges, database sessions and rates;
* **latency** — p50/p95/p99 of successful requests and p95 of all, p95 per request, the database's
  longest open transaction;
* **errors** — failures by kind, success rate by client profile, requests sent vs connections made.

The same data the static PNG panels show, as :class:`~faultdrill.report.chart_model.Chart`s for the
interactive page. Gaps stay gaps: a value is ``None`` where nothing was sampled.
"""

from __future__ import annotations

from collections.abc import Sequence

from faultdrill.histograms import LoadSecond, percentile_ms
from faultdrill.report.chart_model import Chart, GuideLine, Line, Point, is_log_scale, with_gaps
from faultdrill.report.data import DbRow, RunData, group_by
from faultdrill.report.plots import app_metric_series
from faultdrill.report.resource_plots import connection_lines, cpu_capacity_lines, state_totals

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
ERROR_KINDS_SHOWN = 6
STYLES = {"inbound": "solid", "outbound": "dashed"}
SECTIONS = (("saturation", "Usage and saturation"), ("latency", "Latency"), ("errors", "Errors"))


def colours_for(names: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def _mid(s: LoadSecond) -> float:
    return s.t + 0.5


def _load(seconds: Sequence[LoadSecond], value) -> tuple[Point, ...]:  # type: ignore[no-untyped-def]
    return with_gaps([(_mid(s), value(s)) for s in seconds])


# --------------------------------------------------------------------------- usage and saturation
def load_chart(seconds: Sequence[LoadSecond]) -> Chart:
    lines = [Line("ok /s", _load(seconds, lambda s: float(s.total().count - s.total().failures)), "#2ca02c"),
             Line("failed /s", _load(seconds, lambda s: float(s.total().failures)), "#d62728")]
    if any(s.open is not None for s in seconds):
        lines += [Line("arrivals due /s", _load(seconds, lambda s: s.open and float(s.open.intended)), "#1f77b4",
                       style="dashed"),
                  Line("dropped /s", _load(seconds, lambda s: s.open and float(s.open.dropped)), "#9467bd",
                       bars=True),
                  Line("late /s", _load(seconds, lambda s: s.open and float(s.open.late)), "#ff7f0e", style="dotted")]
    else:
        lines.append(Line("users", _load(seconds, lambda s: float(s.users)), "#17becf", style="dashed", axis="right"))
    return Chart("load", "Load: requests completed per second", "per second", tuple(lines),
                 right_unit=None if any(s.open is not None for s in seconds) else "users", section="saturation")


def connection_charts(data: RunData, interval: float) -> list[Chart]:
    if not data.connections:
        return []
    colours = colours_for(data.services())
    lines = tuple(Line(f"{service} {direction}".strip(), with_gaps(points, interval), colours[service],
                       style=STYLES.get(direction, "dotted"))  # type: ignore[arg-type]
                  for (service, direction), points in sorted(connection_lines(data.connections).items()))
    out = [Chart("connections", "TCP connections per service (ESTABLISHED; solid in, dashed out)", "connections",
                 lines, section="saturation")]
    states = state_totals(data.connections)
    if states:
        out.append(Chart("connection-states", "Other TCP states, total of all services", "connections",
                         tuple(Line(state, with_gaps(points, interval), PALETTE[i % len(PALETTE)])
                               for i, (state, points) in enumerate(sorted(states.items()))),
                         section="saturation", height=0.8))
    return out


def resource_charts(data: RunData, interval: float) -> list[Chart]:
    rows = data.resources
    if not rows:
        return []
    colours = colours_for(data.services())
    by_service = {k[0]: sorted(v, key=lambda r: r.t) for k, v in group_by(rows, "service").items()}
    out: list[Chart] = []

    def series(attr: str, scale: float = 1.0, limit: bool = False) -> list[Line]:
        lines = []
        for service, items in sorted(by_service.items()):
            points = with_gaps([(r.t, None if getattr(r, attr) is None else getattr(r, attr) / scale)
                                for r in items], interval)
            if not any(v is not None for _, v in points):
                continue
            lines.append(Line(f"{service} limit" if limit else service, points, colours[service],
                              style="dashed" if limit else "solid", width=1.0 if limit else 1.5))
        return lines

    cpu = series("cpu_pct")
    if cpu:
        guides = tuple(GuideLine(c.pct, c.label, colours[c.services[0]] if len(c.services) == 1 else "#888888")
                       for c in cpu_capacity_lines(rows, (data.run_info.get("host") or {}).get("cpus")))
        out.append(Chart("cpu", "CPU per service (100 % = one core; dashed: 50 % of its capacity)", "CPU %",
                         tuple(cpu), guides=guides, section="saturation"))
    mem = series("mem_bytes", 1024 * 1024)
    if mem:
        out.append(Chart("memory", "Memory per service (dashed: limit)", "MiB",
                         tuple(mem + series("mem_limit_bytes", 1024 * 1024, limit=True)), section="saturation"))
    pids = series("pids")
    if pids:
        out.append(Chart("pids", "Threads/processes (pids) per service vs limit (dashed)", "pids",
                         tuple(pids + series("pids_limit", limit=True)), section="saturation"))
    return out


def app_charts(data: RunData, interval: float) -> list[Chart]:
    out = []
    for service, chosen in app_metric_series(data.app_metrics).items():
        lines = tuple(Line(name if len(name) <= 60 else name[:57] + "…", with_gaps(points, interval),
                           PALETTE[i % len(PALETTE)]) for i, (name, points) in enumerate(chosen))
        out.append(Chart(f"app-{service}", f"App metrics: {service} (counters as rates /s)", "value", lines,
                         section="saturation"))
    return out


def _db_lines(items: Sequence[DbRow], columns: Sequence[str], interval: float, strip: str = "") -> tuple[Line, ...]:
    return tuple(Line(c[len(strip):] if strip and c.startswith(strip) else c,
                      with_gaps([(r.t, r.get(c)) for r in items], interval), PALETTE[i % len(PALETTE)])
                 for i, c in enumerate(columns))


def db_charts(data: RunData, interval: float) -> list[Chart]:
    out = []
    for (service,), items in sorted(group_by(data.db, "service").items()):
        items = sorted(items, key=lambda r: r.t)
        numeric = [c for c, _ in items[0].values if any(r.get(c) is not None for r in items)]
        sessions = [c for c in numeric if c.startswith("sessions_")]
        rates = [c for c in numeric if c.endswith("_per_s")]
        if sessions:
            out.append(Chart(f"db-{service}", f"Database {service}: sessions by state", "sessions",
                             _db_lines(items, sessions, interval, "sessions_"), section="saturation"))
        if rates:
            out.append(Chart(f"db-{service}-rates", f"Database {service}: rates", "per second",
                             _db_lines(items, rates, interval), section="saturation", height=0.8))
        if "longest_tx_s" in numeric:
            out.append(Chart(f"db-{service}-longest-tx", f"Database {service}: longest open transaction", "seconds",
                             _db_lines(items, ["longest_tx_s"], interval), section="latency", height=0.8))
    return out


# --------------------------------------------------------------------------- latency
def latency_charts(seconds: Sequence[LoadSecond]) -> list[Chart]:
    totals = {s.t: s.total() for s in seconds}
    lines = tuple(Line(f"p{p} successful", _load(seconds, lambda s, p=p: percentile_ms(totals[s.t].ok_hist, p)),
                       colour) for p, colour in ((50, "#1f77b4"), (95, "#ff7f0e"), (99, "#2ca02c")))
    lines += (Line("p95 all requests", _load(seconds, lambda s: percentile_ms(totals[s.t].hist, 95)), "#555555",
                   style="dotted"),)
    out = [Chart("latency", "Latency of successful requests (true per-second percentiles); dotted: all requests",
                 "ms", lines, log=is_log_scale([v for ln in lines for v in ln.values()]), section="latency",
                 height=1.2)]
    names = sorted({n for s in seconds for n in s.requests})
    if len(names) > 1:
        colours = colours_for(names)
        per = tuple(Line(f"{name} p95 ok", _load(seconds, lambda s, n=name: percentile_ms(
            s.requests[n].ok_hist, 95) if n in s.requests else None), colours[name]) for name in names)
        out.append(Chart("latency-by-request", "p95 of successful requests, per request", "ms", per,
                         log=is_log_scale([v for ln in per for v in ln.values()]), section="latency"))
    return out


# --------------------------------------------------------------------------- errors
def failures_chart(seconds: Sequence[LoadSecond]) -> Chart | None:
    totals: dict[str, int] = {}
    for s in seconds:
        for kind, n in s.total().errors.items():
            totals[kind] = totals.get(kind, 0) + n
    if not totals:
        return None
    ranked = sorted(totals, key=lambda k: -totals[k])
    shown, rest = ranked[:ERROR_KINDS_SHOWN], ranked[ERROR_KINDS_SHOWN:]
    lines = [Line(f"{kind if len(kind) <= 48 else kind[:45] + '…'} ({totals[kind]:,})",
                  _load(seconds, lambda s, k=kind: float(s.total().errors.get(k, 0))), PALETTE[(i + 3) % len(PALETTE)])
             for i, kind in enumerate(shown)]
    if rest:
        lines.append(Line("other", _load(seconds, lambda s: float(sum(s.total().errors.get(k, 0) for k in rest))),
                          "#7f7f7f"))
    return Chart("errors", "Failures by kind, per second", "failures / s", tuple(lines), section="errors")


def profile_charts(data: RunData) -> list[Chart]:
    out = []
    if len({r.profile for r in data.profiles}) >= 2:
        colours = colours_for([r.profile for r in data.profiles])
        lines = []
        for (profile,), items in sorted(group_by(data.profiles, "profile").items()):
            per_t: dict[float, list[float]] = {}
            for r in items:
                acc = per_t.setdefault(r.t, [0.0, 0.0])
                acc[0] += r.requests
                acc[1] += r.failures
            lines.append(Line(profile, with_gaps([(t + 0.5, 100.0 * (n - f) / n if n else None)
                                                  for t, (n, f) in per_t.items()]), colours[profile]))
        out.append(Chart("profiles", "Success rate by client profile", "success %", tuple(lines), section="errors"))
    rows = data.conn_counts
    if rows and any(r.connects or r.failed_connects for r in rows):
        colours = colours_for([r.profile for r in rows])
        lines = []
        for (profile,), items in sorted(group_by(rows, "profile").items()):
            c = colours[profile]
            lines += [Line(f"{profile} requests", with_gaps([(r.t + 0.5, r.requests) for r in items]), c),
                      Line(f"{profile} connections", with_gaps([(r.t + 0.5, r.connects) for r in items]), c,
                           style="dashed")]
            if any(r.failed_connects for r in items):
                lines.append(Line(f"{profile} failed connects/TLS",
                                  with_gaps([(r.t + 0.5, r.failed_connects) for r in items]), c, style="dotted"))
        out.append(Chart("client-connections", "Requests sent vs connections made, by client profile", "per second",
                         tuple(lines), section="errors"))
    return out


def detail_charts(data: RunData, interval: float = 1.0) -> dict[str, list[Chart]]:
    """Every detail chart this run has data for, by section (``SECTIONS``), in reading order."""
    seconds = data.seconds
    saturation: list[Chart] = [load_chart(seconds)] if seconds else []
    saturation += connection_charts(data, interval) + resource_charts(data, interval) + app_charts(data, interval)
    db = db_charts(data, interval)
    latency = (latency_charts(seconds) if seconds else []) + [c for c in db if c.section == "latency"]
    failures = failures_chart(seconds) if seconds else None
    errors = ([failures] if failures else []) + profile_charts(data)
    return {"saturation": saturation + [c for c in db if c.section == "saturation"], "latency": latency,
            "errors": errors}
