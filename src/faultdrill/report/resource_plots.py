"""The panels of what the recorder sampled from the stack: TCP connections, CPU, memory, pids.

Samples sit on the recorder's tick grid (one ``t`` per tick for every sampler). A series has a point
where it was sampled and a gap (NaN) where it was not, or where the sample was missing (an empty
cell: a stale Docker sample, say) — never an invented 0; a total over services exists only at ticks
where every service was sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes

from faultdrill.report.data import ConnectionRow, ResourceRow, group_by
from faultdrill.report.drawing import CPU_CAPACITY_PCT, Colour, MiB, Panel, Point, _plot


def sampled_ticks(rows: Sequence[ConnectionRow]) -> tuple[list[float], dict[str, set[float]]]:
    """Every tick of the file, and per service the ticks it has rows for (it was sampled then)."""
    by_service: dict[str, set[float]] = {}
    for r in rows:
        by_service.setdefault(r.service, set()).add(r.t)
    return sorted({r.t for r in rows}), by_service


OPEN_STATES = ("ESTABLISHED", "CLOSE_WAIT")  # held by the service: counted as its open connections


def connection_lines(rows: Sequence[ConnectionRow]) -> dict[tuple[str, str], list[Point]]:
    """Open connections (ESTABLISHED + CLOSE_WAIT) per (service, direction), one point per tick (pure).

    CLOSE_WAIT counts: the peer has gone (e.g. the ingress gave up) but the service has not closed
    its end — a connection still held, waiting in its queue. A server pinned at its connection
    limit shows flat at that limit, not as a falling ESTABLISHED count.

    At a tick the service was sampled the value is its count (0 when it had none that way: a real
    zero); at a tick it was not sampled it is None — a gap in the line, never an invented 0.
    """
    times, sampled = sampled_ticks(rows)
    established = [r for r in rows if r.state in OPEN_STATES] or [r for r in rows if r.state != "LISTEN"]
    sums: dict[tuple[str, str], dict[float, float]] = {}
    for r in established:
        per_t = sums.setdefault((r.service, r.direction), {})
        per_t[r.t] = per_t.get(r.t, 0.0) + r.count
    return {(service, direction): [(t, per_t.get(t, 0.0) if t in sampled[service] else None) for t in times]
            for (service, direction), per_t in sums.items()}


def state_totals(rows: Sequence[ConnectionRow]) -> dict[str, list[Point]]:
    """Sockets per TCP state other than LISTEN/ESTABLISHED/CLOSE_WAIT, summed over every service, per tick (pure).

    A service counts from its first to its last sample (a container started mid-run adds nothing
    before it ran). A tick inside that span without a sample of it makes the total unknown: None, a
    gap, not the partial sum of the services that were sampled.
    """
    times, sampled = sampled_ticks(rows)
    spans = {service: (min(ts), max(ts)) for service, ts in sampled.items()}
    sums: dict[str, dict[float, float]] = {}
    for r in rows:
        if r.state not in ("LISTEN", *OPEN_STATES):
            per_t = sums.setdefault(r.state, {})
            per_t[r.t] = per_t.get(r.t, 0.0) + r.count
    complete = {t for t in times if all(t in sampled[s] for s, (first, last) in spans.items() if first <= t <= last)}
    return {state: [(t, per_t.get(t, 0.0) if t in complete else None) for t in times]
            for state, per_t in sums.items()}


def connections_panels(rows: Sequence[ConnectionRow], colours: dict[str, Colour]) -> list[Panel]:
    if not rows:
        return []
    lines = connection_lines(rows)
    states = state_totals(rows)
    styles = {"inbound": "-", "outbound": "--"}

    def draw(ax: Axes) -> None:
        for (service, direction), points in sorted(lines.items()):
            _plot(ax, points, lw=1.4, ls=styles.get(direction, "-."), color=colours.get(service),
                  label=f"{service} {direction}".strip())
        ax.set_ylim(bottom=0)
        ax.set_ylabel("connections")

    panels = [Panel("connections", "TCP connections per service (open: ESTABLISHED + CLOSE_WAIT; solid in, dashed out)", draw)]
    if states:
        def draw_states(ax: Axes) -> None:
            for state, points in sorted(states.items()):
                _plot(ax, points, lw=1.2, label=state)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("connections")

        panels.append(Panel("connection-states", "Other TCP states, total of all services (not LISTEN/ESTABLISHED/CLOSE_WAIT)",
                            draw_states, 0.8))
    return panels


def _limit_line(ax: Axes, points: Sequence[Point], colour: Colour | None, label: str) -> None:
    known = [p for p in points if p[1] is not None and p[1] > 0]
    if known:
        _plot(ax, known, ls="--", lw=1.0, color=colour, alpha=0.8, label=label)


@dataclass(frozen=True)
class CapacityLine:
    pct: float  # on the CPU axis: 100 % = one core
    label: str
    services: tuple[str, ...]  # whose capacity this is


def _cores(value: float) -> str:
    return f"{value:g} core{'s' if value != 1 else ''}"


def cpu_capacity_lines(rows: Sequence[ResourceRow], host_cpus: float | None = None) -> list[CapacityLine]:
    """The talk's "above 50 % plan more capacity" line, of each service's own capacity (pure).

    A service's capacity is its CPU limit (``cpu_limit``), else the engine host's cores (``host_cpus``
    in the file, else ``host_cpus`` given: run.json's host). Services with the same capacity share a
    line; a service whose capacity is unknown gets none.
    """
    capacity: dict[str, tuple[float, bool]] = {}  # service -> (CPUs, is its own limit)
    for r in sorted(rows, key=lambda r: r.t):
        host = r.host_cpus or host_cpus
        if r.cpu_limit:
            capacity[r.service] = (r.cpu_limit, True)
        elif host:
            capacity[r.service] = (host, False)
    groups: dict[tuple[float, bool], list[str]] = {}
    for service, key in sorted(capacity.items()):
        groups.setdefault(key, []).append(service)
    share = f"{CPU_CAPACITY_PCT:.0f} %"
    lines = []
    for (cpus, own), services in sorted(groups.items()):
        if own:
            whose = "each service's" if len(groups) == 1 and len(services) > 1 else f"{', '.join(services)}'s"
            label = f"{share} of {whose} {cpus:g}-CPU limit"
        else:
            label = f"{share} of the host's {_cores(cpus)}" + ("" if len(groups) == 1 else f" ({', '.join(services)})")
        lines.append(CapacityLine(cpus * CPU_CAPACITY_PCT, label, tuple(services)))
    return lines


def resource_panels(rows: Sequence[ResourceRow], colours: dict[str, Colour],
                    host_cpus: float | None = None) -> list[Panel]:
    by_service = {k[0]: sorted(v, key=lambda r: r.t) for k, v in group_by(rows, "service").items()}
    panels: list[Panel] = []

    def has(attr: str) -> bool:
        return any(getattr(r, attr) is not None for r in rows)

    if has("cpu_pct"):
        capacity = cpu_capacity_lines(rows, host_cpus)

        def draw_cpu(ax: Axes) -> None:
            for service, items in sorted(by_service.items()):
                _plot(ax, [(r.t, r.cpu_pct) for r in items], lw=1.4, color=colours.get(service), label=service)
            for line in capacity:
                colour = colours.get(line.services[0]) if len(line.services) == 1 else "#888888"
                ax.axhline(line.pct, color=colour, ls=":", lw=1.2, label=line.label)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("CPU % (100 = one core)")

        note = "dotted: 50 % of capacity" if capacity else "capacity unknown: no 50 % line"
        panels.append(Panel("cpu", f"CPU per service (100 % = one core; {note})", draw_cpu))
    if has("mem_bytes"):
        def draw_mem(ax: Axes) -> None:
            for service, items in sorted(by_service.items()):
                colour = colours.get(service)
                _plot(ax, [(r.t, None if r.mem_bytes is None else r.mem_bytes / MiB) for r in items], lw=1.4,
                      color=colour, label=service)
                _limit_line(ax, [(r.t, None if r.mem_limit_bytes is None else r.mem_limit_bytes / MiB)
                                 for r in items], colour, f"{service} limit")
                ooms = [r for r, prev in zip(items[1:], items) if (r.oom_killed or 0) > (prev.oom_killed or 0)]
                restarts = [r for r, prev in zip(items[1:], items) if (r.restarts or 0) > (prev.restarts or 0)]
                for r in ooms:
                    ax.axvline(r.t, color=colour, lw=2, alpha=0.8)
                    ax.text(r.t, 0.5, f" OOM {service}", transform=ax.get_xaxis_transform(), fontsize=8,
                            color=colour, rotation=90, va="center")
                for r in restarts:
                    if r not in ooms:
                        ax.axvline(r.t, color=colour, lw=1, ls="-.", alpha=0.8)
                        ax.text(r.t, 0.5, f" restart {service}", transform=ax.get_xaxis_transform(), fontsize=8,
                                color=colour, rotation=90, va="center")
            ax.set_ylim(bottom=0)
            ax.set_ylabel("memory (MiB)")

        panels.append(Panel("memory", "Memory per service (dashed: limit)", draw_mem))
    if has("pids"):
        def draw_pids(ax: Axes) -> None:
            for service, items in sorted(by_service.items()):
                colour = colours.get(service)
                _plot(ax, [(r.t, r.pids) for r in items], lw=1.4, color=colour, label=service)
                _limit_line(ax, [(r.t, r.pids_limit) for r in items], colour, f"{service} limit")
            ax.set_ylim(bottom=0)
            ax.set_ylabel("pids")

        panels.append(Panel("pids", "Threads/processes (pids) per service vs limit (dashed)", draw_pids))
    return panels
