"""Recorded rows → named series points, the names checks, aborts and the live view use (pure).

``resources.SERVICE.FIELD`` · ``connections.SERVICE`` (open: ESTABLISHED + CLOSE_WAIT, both directions) ·
``connections.SERVICE.DIRECTION`` (open) · ``connections.SERVICE.DIRECTION.STATE`` ·
``app.SERVICE.METRIC`` (summed over labels) · ``db.SERVICE.FIELD`` · ``proxy.PROXY.FIELD`` ·
``ingress.SERVICE.FIELD`` (nginx stub_status as read) and ``ingress.SERVICE.accepted_per_s`` /
``handled_per_s`` / ``requests_per_s`` (per-second rates between consecutive ticks: ``IngressRates``).
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from faultdrill.analysis.ingress import RATE_NAMES, counter_rates
from faultdrill.analysis.series import Series

SOURCES = {"resources": "resources", "connections": "connections", "app_metrics": "app", "db": "db",
           "proxies": "proxy", "ingress": "ingress"}
KEYS = {"t", "wall", "service", "proxy", "direction", "endpoint", "state", "metric", "labels"}


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def points_from_rows(file_stem: str, rows: Iterable[Mapping[str, object]]) -> dict[str, float | None]:
    """One instant's rows of one recorder file → ``{metric name: value}``."""
    source = SOURCES.get(file_stem)
    out: dict[str, float | None] = {}
    if source == "connections":
        sums: dict[str, float] = defaultdict(float)
        for row in rows:
            service, direction, state = row.get("service"), row.get("direction"), row.get("state")
            count = _number(row.get("count")) or 0.0
            sums[f"connections.{service}.{direction}.{state}"] += count
            if state in ("ESTABLISHED", "CLOSE_WAIT"):  # held open by the service (CLOSE_WAIT: the peer left)
                sums[f"connections.{service}.{direction}"] += count
                sums[f"connections.{service}"] += count
        return dict(sums)
    if source == "app":
        app: dict[str, float] = defaultdict(float)
        for row in rows:
            value = _number(row.get("value"))
            if value is not None:
                app[f"app.{row.get('service')}.{row.get('metric')}"] += value
        return dict(app)
    if source in ("resources", "db", "proxy", "ingress"):
        for row in rows:
            owner = row.get("proxy") if source == "proxy" else row.get("service")
            for key, cell in row.items():
                if key not in KEYS:
                    out[f"{source}.{owner}.{key}"] = _number(cell)
    return out


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


def _with_ingress_rates(series: dict[str, Series]) -> dict[str, Series]:
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


def read_samples(run_dir: Path) -> dict[str, Series]:
    """Every recorded series of a run directory, by metric name (a crash-cut last line is skipped)."""
    series: dict[str, Series] = defaultdict(list)
    for stem in SOURCES:
        path = run_dir / f"{stem}.csv"
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            by_t: dict[float, list[dict[str, str]]] = defaultdict(list)
            for row in csv.DictReader(fh):
                t = _number(row.get("t"))
                if t is not None and None not in row.values():
                    by_t[t].append(row)
        for t in sorted(by_t):
            for metric, value in points_from_rows(stem, by_t[t]).items():
                series[metric].append((t, value))
    return _with_ingress_rates(dict(series))
