"""Incident 2 from both sides: what the clients sent beside what reached the ingress (pure drawing).

Client side (the load generator, per profile, per second): requests sent and TCP connection attempts.
Ingress side (nginx ``stub_status`` counters, as per-second rates): connections accepted and requests
read. A client bin ``[t, t+1)`` is drawn at ``t + 0.5``; an ingress rate over ``(t-1, t]`` (two ticks)
at ``t - 0.5`` — the same second on the same axis.

Read the two ingress lines apart: a TLS handshake the ingress refuses is still a TCP connection it
*accepted*; only the requests line drops. The gap between the clients' requests and the ingress's
requests is the traffic the web tier never saw.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from matplotlib.axes import Axes

from faultdrill.analysis.ingress import ingress_rates
from faultdrill.report.data import ConnCountRow, IngressRow, group_by
from faultdrill.report.drawing import Panel, Point, _plot, service_colours

INGRESS_COLOUR = "#222222"
CLIENTS_COLOUR = "#6a3d9a"  # apart from the per-profile colours


def client_totals(rows: Sequence[ConnCountRow]) -> list[tuple[float, float, float]]:
    """(t, requests, connection attempts) per second over every profile."""
    by_t: dict[float, list[float]] = {}
    for r in rows:
        acc = by_t.setdefault(r.t, [0.0, 0.0])
        acc[0] += r.requests
        acc[1] += r.attempts
    return [(t, v[0], v[1]) for t, v in sorted(by_t.items())]


def tick_step(rows: Sequence[IngressRow]) -> float:
    """The recorder's tick interval, read from the rows: the most common spacing (1 s when unclear)."""
    ts = sorted({r.t for r in rows})
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(ts) if b > a]
    return max(set(gaps), key=gaps.count) if gaps else 1.0


def both_sides_panel(clients: Sequence[ConnCountRow], ingress: Sequence[IngressRow]) -> Panel | None:
    if not ingress:
        return None
    step = tick_step(ingress)
    rates = ingress_rates(ingress, step)
    by_profile = {k[0]: sorted(v, key=lambda r: r.t) for k, v in group_by(clients, "profile").items()}
    colours = service_colours(list(by_profile))
    totals = client_totals(clients)

    def shifted(points: Sequence[Point]) -> list[Point]:
        return [(t - step / 2, v) for t, v in points]

    def draw(ax: Axes) -> None:
        if len(by_profile) > 1:
            for profile, items in sorted(by_profile.items()):
                colour = colours[profile]
                _plot(ax, [(r.t + 0.5, r.requests) for r in items], lw=1.1, color=colour, alpha=0.8,
                      label=f"clients: {profile} requests")
                _plot(ax, [(r.t + 0.5, r.attempts) for r in items], lw=1.0, ls="--",
                      color=colour, alpha=0.8, label=f"clients: {profile} connection attempts")
        if totals:
            _plot(ax, [(t + 0.5, n) for t, n, _ in totals], lw=1.8, color=CLIENTS_COLOUR, label="clients: requests sent")
            _plot(ax, [(t + 0.5, c) for t, _, c in totals], lw=1.4, ls="--", color=CLIENTS_COLOUR,
                  label="clients: connection attempts")
        for service, series in sorted(rates.items()):
            name = f"{service}: " if len(rates) > 1 else "ingress: "
            _plot(ax, shifted(series["requests_per_s"]), lw=1.8, color=INGRESS_COLOUR, label=name + "requests read")
            _plot(ax, shifted(series["accepted_per_s"]), lw=1.4, ls="--", color=INGRESS_COLOUR,
                  label=name + "connections accepted")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("per second")

    return Panel("both-sides", "Both sides: what the clients sent vs what the ingress read "
                 "(a refused TLS handshake is still an accepted connection)", draw, 1.2)
