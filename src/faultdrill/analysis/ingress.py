"""Per-second rates of what reached the ingress, from nginx's cumulative counters (pure).

``ingress.csv`` holds counters as read at each recorder tick (``accepted``, ``handled``, ``requests``).
A rate is the counter's rise between two *consecutive* ticks divided by the time between them, and
is placed at the later tick: what arrived in ``(t - step, t]``. Where the sampler missed a tick the
rate across the gap is unknown (None), never a zero nor the gap's average smeared over it; a counter
that goes back (nginx restarted) gives None for that step, never a negative rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

Point = tuple[float, float | None]
Series = list[Point]

COUNTERS = ("accepted", "handled", "requests")
RATE_NAMES = {f"{c}_per_s": c for c in COUNTERS}  # ingress.SERVICE.accepted_per_s, …


class _Reading(Protocol):  # read-only, so frozen dataclasses fit
    @property
    def t(self) -> float: ...
    @property
    def service(self) -> str: ...
    @property
    def accepted(self) -> float: ...
    @property
    def handled(self) -> float: ...
    @property
    def requests(self) -> float: ...


def counter_rates(points: Sequence[tuple[float, float]], step: float = 1.0) -> list[Point]:
    """``[(t, cumulative)]`` in time order -> ``[(t, per second)]``; the first tick has no rate (None).
    Ticks more than 1.5 steps apart are a gap: no rate across it."""
    out: list[Point] = []
    previous: tuple[float, float] | None = None
    for t, value in points:
        rate: float | None = None
        if previous is not None:
            dt = t - previous[0]
            if 0 < dt <= 1.5 * step and value >= previous[1]:
                rate = (value - previous[1]) / dt
        out.append((t, rate))
        previous = (t, value)
    return out


def ingress_rates(rows: Iterable[_Reading], step: float = 1.0) -> dict[str, dict[str, list[Point]]]:
    """{service: {"accepted_per_s" | "handled_per_s" | "requests_per_s": [(t, rate)]}} from ingress rows."""
    by_service: dict[str, list[_Reading]] = {}
    for row in rows:
        by_service.setdefault(row.service, []).append(row)
    out: dict[str, dict[str, list[Point]]] = {}
    for service, readings in by_service.items():
        readings.sort(key=lambda r: r.t)
        out[service] = {name: counter_rates([(r.t, float(getattr(r, counter))) for r in readings], step)
                        for name, counter in RATE_NAMES.items()}
    return out


def mean_rate(points: Sequence[Point], start: float, end: float) -> float | None:
    """Mean of the known rates with ``start < t <= end`` (None when none is known)."""
    values = [v for t, v in points if start < t <= end and v is not None]
    return sum(values) / len(values) if values else None


class IngressRates:
    """Live per-second rates of the ingress counters, one tick after another (the drill's live checks)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, float]] = {}

    def add(self, t: float, points: Mapping[str, float | None]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for rate_name, counter in RATE_NAMES.items():
            for metric, value in points.items():
                if not (metric.startswith("ingress.") and metric.endswith("." + counter)) or value is None:
                    continue
                previous = self._last.get(metric)
                self._last[metric] = (t, value)
                pairs = [previous, (t, value)] if previous is not None else [(t, value)]
                out[metric[: -len(counter)] + rate_name] = counter_rates(pairs, self.interval)[-1][1]
        return out


def with_ingress_rates(series: dict[str, Series]) -> dict[str, Series]:
    """Add ``ingress.SERVICE.*_per_s`` to recorded series (in place; returned for chaining), each counter's
    step being its median tick spacing."""
    for metric in list(series):
        if not metric.startswith("ingress."):
            continue
        for rate_name, counter in RATE_NAMES.items():
            if metric.endswith("." + counter):
                points = [(t, v) for t, v in series[metric] if v is not None]
                ts = [t for t, _ in points]
                gaps = sorted(b - a for a, b in itertools.pairwise(ts) if b > a)
                step = gaps[len(gaps) // 2] if gaps else 1.0
                series[metric[: -len(counter)] + rate_name] = counter_rates(points, step)
    return series
