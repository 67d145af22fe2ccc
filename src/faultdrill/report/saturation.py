"""Saturation for the story figure: how close each resource came to its limit (pure).

Everything with a known limit is shown as a percentage of that limit, so one axis carries the talk's
capacity rule for every service at once: CPU and memory normally at 20–30 % of capacity, above 50 %
plan more. What has no known limit is shown as a raw count on the right axis, and says so.

* **threads/pids** of every service with a pids limit, as % of it (mail threads piling up to the
  thread limit is incident 1's root cause);
* **CPU** of the busiest services, as % of their capacity (their CPU limit, else the host's cores);
* **memory** of the busiest service with a memory limit, as % of it;
* the app's own **bounded resource** (request threads busy vs their bound, say: a gauge ``X_limit`` /
  ``X_max`` beside ``X_busy``), as % of it;
* database **sessions waiting on a lock** (``db.csv``), a count on the right axis;
* **connections** accepted by the busiest services (inbound ESTABLISHED; not the databases', whose
  sessions have their own panels, nor the drill's own proxy). As % of their limit when
  the app reports one (a gauge named ``…_workers_limit`` / ``…_connections_max`` and the like in
  ``app_metrics.csv``); otherwise as a count on the right axis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from faultdrill.report.chart_model import Chart, GuideLine, Line, Point, with_gaps
from faultdrill.report.data import MetricRow, ResourceRow, RunData, group_by
from faultdrill.report.resource_plots import connection_lines

NORMAL_LOW_PCT, NORMAL_HIGH_PCT = 20.0, 30.0  # the talk: CPU and memory normally at 20–30 %
PLAN_PCT = 50.0  # the talk: above 50 %, plan more capacity
CPU_SERVICES_SHOWN = 2
GENERATOR_CPU_LABEL = "load generator CPU % of its one core"
CONNECTION_SERVICES_SHOWN = 3
HARNESS_SERVICES = ("toxiproxy",)  # the drill's own proxy: not a tier of the system under test
CONNECTION_LIMIT_METRIC = re.compile(r"(workers?|connections?|conns?)_(limit|max)$")
PALETTE = {"pids": ("#9467bd", "#c5b0d5", "#7b4173"), "cpu": ("#d62728", "#ff9896"), "mem": ("#8c564b",),
           "conn": ("#1f77b4", "#17becf", "#2ca02c"), "app": ("#e377c2", "#bcbd22", "#8c564b")}


def capacity_guides() -> tuple[GuideLine, ...]:
    return (GuideLine(NORMAL_LOW_PCT, f"normal {NORMAL_LOW_PCT:.0f}–{NORMAL_HIGH_PCT:.0f} % of limit", "#2ca02c",
                      to=NORMAL_HIGH_PCT),
            GuideLine(PLAN_PCT, f"{PLAN_PCT:.0f} %: plan more capacity", "#ff7f0e"))


def _pct(value: float | None, limit: float | None) -> float | None:
    if value is None or not limit or limit <= 0:
        return None
    return 100.0 * value / limit


def _peak(points: Sequence[Point]) -> float:
    known = [v for _, v in points if v is not None]
    return max(known) if known else -1.0


def _area(points: Sequence[Point]) -> float:
    """How long and how high: the sum of the known values (ties between equal peaks)."""
    return sum(v for _, v in points if v is not None)


def _per_service(rows: Sequence[ResourceRow], value: Callable[[ResourceRow], float | None],
                 interval: float) -> dict[str, tuple[Point, ...]]:
    out = {}
    for (service,), items in sorted(group_by(rows, "service").items()):
        points = with_gaps([(r.t, value(r)) for r in items], interval)
        if any(v is not None for _, v in points):
            out[service] = points
    return out


def cpu_capacity(row: ResourceRow, host_cpus: float | None) -> float | None:
    """CPUs a service may use: its own limit, else the engine host's cores (unknown: None)."""
    return row.cpu_limit or row.host_cpus or host_cpus


def _limit_text(rows: Sequence[ResourceRow], service: str, host_cpus: float | None) -> str:
    mine = [r for r in rows if r.service == service]
    if any(r.cpu_limit for r in mine):
        return f"its {max(r.cpu_limit or 0 for r in mine):g}-CPU limit"
    cpus = next((cpu_capacity(r, host_cpus) for r in mine if cpu_capacity(r, host_cpus)), None)
    return f"the host's {cpus:g} CPUs" if cpus else "capacity"


def connection_limits(rows: Sequence[MetricRow]) -> dict[str, list[tuple[float, float]]]:
    """Per service, the connection/worker limit it reports (if it does), over time."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if CONNECTION_LIMIT_METRIC.search(r.metric) and r.value > 0:
            out.setdefault(r.service, []).append((r.t, r.value))
    return out


LIMIT_METRIC = re.compile(r"^(?P<base>.+)_(limit|max)$")
USED_SUFFIXES = ("_busy", "_in_use", "_active", "")  # what counts against a limit, in order of preference


def app_limit_lines(rows: Sequence[MetricRow], interval: float) -> list[Line]:
    """Per service, the app's own busiest bounded resource as % of its bound: a gauge ``X_limit`` (or
    ``X_max``) paired with ``X_busy`` / ``X_in_use`` / ``X_active`` / ``X`` (e.g. request threads busy
    vs the thread bound). Only the fullest pair per service, so one app adds one line."""
    out: list[Line] = []
    for (service,), items in sorted(group_by(rows, "service").items()):
        series: dict[str, dict[float, float]] = {}
        for r in items:
            if not r.labels:
                series.setdefault(r.metric, {})[r.t] = r.value
        best: tuple[float, str, tuple[Point, ...]] | None = None
        for metric, limits in series.items():
            match = LIMIT_METRIC.match(metric)
            if not match or CONNECTION_LIMIT_METRIC.search(metric):
                continue
            used_name = next((match["base"] + s for s in USED_SUFFIXES if match["base"] + s in series
                              and match["base"] + s != metric), None)
            if used_name is None:
                continue
            used = series[used_name]
            points = with_gaps([(t, _pct(used[t], limits.get(t))) for t in sorted(used)], interval)
            if best is None or _peak(points) > best[0]:
                best = (_peak(points), used_name, points)
        if best is not None and best[0] >= 0:
            colour = PALETTE["app"][len(out) % len(PALETTE["app"])]
            out.append(Line(f"{service} {best[1]} % of its limit", best[2], colour, width=1.6))
    return out


def _limit_at(limits: list[tuple[float, float]], t: float) -> float | None:
    before = [v for lt, v in sorted(limits) if lt <= t + 1e-9]
    return before[-1] if before else (sorted(limits)[0][1] if limits else None)


def saturation_chart(data: RunData, interval: float = 1.0) -> Chart | None:
    """Connections vs their limit, threads vs their limit, the busiest CPU and memory (None: nothing recorded)."""
    host_cpus = (data.run_info.get("host") or {}).get("cpus")
    lines: list[Line] = []
    rows = data.resources
    pids = _per_service([r for r in rows if r.pids_limit], lambda r: _pct(r.pids, r.pids_limit), interval)
    for i, (service, points) in enumerate(sorted(pids.items(), key=lambda kv: -_peak(kv[1]))):
        colour = PALETTE["pids"][i % len(PALETTE["pids"])]
        lines.append(Line(f"{service} threads/pids % of limit", points, colour, width=1.8))
    cpu = _per_service(rows, lambda r: _pct(r.cpu_pct, (cpu_capacity(r, host_cpus) or 0) * 100.0), interval)
    for i, (service, points) in enumerate(sorted(cpu.items(), key=lambda kv: -_peak(kv[1]))[:CPU_SERVICES_SHOWN]):
        lines.append(Line(f"{service} CPU % of {_limit_text(rows, service, host_cpus)}", points,
                          PALETTE["cpu"][i], style="dashed" if i else "solid"))
    mem = _per_service(rows, lambda r: _pct(r.mem_bytes, r.mem_limit_bytes), interval)
    if mem:
        service, points = max(mem.items(), key=lambda kv: _peak(kv[1]))
        lines.append(Line(f"{service} memory % of limit", points, PALETTE["mem"][0], style="dotted"))
    lines += app_limit_lines(data.app_metrics, interval)
    lines += generator_cpu_lines(data)
    right = _connection_lines(data, interval, lines)
    waits = _lock_wait_lines(data, interval, any(line.axis == "left" for line in lines))
    lines += waits
    right_unit = "connections" if right else None
    if waits and any(line.axis == "right" for line in waits):
        right_unit = "connections · sessions" if right else "sessions"
    if not lines:
        return None
    has_pct = any(line.axis == "left" for line in lines)
    note = "" if has_pct else "no limit is known for anything shown: no capacity lines"
    return Chart("story-saturation", "Saturation: how close each resource came to its limit",
                 "% of limit" if has_pct else "connections", tuple(lines),
                 right_unit=right_unit if has_pct else None,
                 guides=capacity_guides() if has_pct else (), note=note, height=1.1)


def generator_cpu_lines(data: RunData) -> list[Line]:
    """The load generator's own CPU (its busiest process, per second): one process drives load on one
    core, so near 100 % the generator, not the target, was the limit of what was sent."""
    points = with_gaps([(s.t + 0.5, s.cpu_pct) for s in sorted(data.seconds, key=lambda s: s.t)], 1.0)
    if not any(v is not None for _, v in points):
        return []
    return [Line(GENERATOR_CPU_LABEL, points, "#7f7f7f", style="dotted", width=1.2)]


def _lock_wait_lines(data: RunData, interval: float, has_left: bool) -> list[Line]:
    """Database sessions waiting on a lock (``db.csv``): contention as it builds, beside what it saturates."""
    out = []
    for i, ((service,), items) in enumerate(sorted(group_by(data.db, "service").items())):
        points = with_gaps([(r.t, r.get("sessions_waiting_lock")) for r in sorted(items, key=lambda r: r.t)],
                           interval)
        if _peak(points) > 0:
            out.append(Line(f"{service} sessions waiting on a lock{' (right axis)' if has_left else ''}", points,
                            ("#7f7f7f", "#bcbd22")[i % 2], style="dashed", width=1.4,
                            axis="right" if has_left else "left"))
    return out


def _connection_lines(data: RunData, interval: float, lines: list[Line]) -> bool:
    """Adds inbound connections of the busiest services to ``lines``; True if any went on the right axis."""
    if not data.connections:
        return False
    limits = connection_limits(data.app_metrics)
    databases = {r.service for r in data.db}  # their sessions are in the database panels
    inbound = {service: with_gaps(points, interval)
               for (service, direction), points in connection_lines(data.connections).items()
               if direction == "inbound" and service not in databases and service not in HARNESS_SERVICES}
    # Tiers that report their connection limit first (a curve flat at 100 % of it is the signature a
    # responder looks for), then the busiest by count.
    busiest = sorted(inbound.items(), key=lambda kv: (kv[0] not in limits, -_peak(kv[1]), -_area(kv[1])))
    busiest = busiest[:CONNECTION_SERVICES_SHOWN]
    right = False
    has_left = any(line.axis == "left" for line in lines)
    for i, (service, points) in enumerate(busiest):
        if _peak(points) <= 0:
            continue
        colour = PALETTE["conn"][i % len(PALETTE["conn"])]
        if service in limits:
            pct = tuple((t, _pct(v, _limit_at(limits[service], t))) for t, v in points)
            lines.append(Line(f"{service} connections % of its limit", pct, colour, width=1.8))
        else:
            right = True
            lines.append(Line(f"{service} connections in (limit unknown{', right axis' if has_left else ''})",
                              points, colour, width=1.4, axis="right" if has_left else "left"))
    return right
