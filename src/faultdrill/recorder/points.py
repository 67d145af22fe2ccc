"""Recorded rows → named series points, the names checks, aborts and the live view use (pure).

``resources.SERVICE.FIELD`` · ``connections.SERVICE`` (open: ESTABLISHED + CLOSE_WAIT, both directions) ·
``connections.SERVICE.DIRECTION`` (open) · ``connections.SERVICE.DIRECTION.STATE`` ·
``app.SERVICE.METRIC`` (summed over labels) · ``db.SERVICE.FIELD`` · ``proxy.PROXY.FIELD`` ·
``ingress.SERVICE.FIELD`` (nginx stub_status as read) and ``ingress.SERVICE.accepted_per_s`` /
``handled_per_s`` / ``requests_per_s`` (per-second rates between consecutive ticks, derived in
``analysis.ingress``: ``IngressRates`` live, ``with_ingress_rates`` after the run).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

Series = list[tuple[float, float | None]]  # what ``analysis.series.Series`` is: (t, value) in time order

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


def read_samples(run_dir: Path) -> dict[str, Series]:
    """Every recorded series of a run directory, by metric name (a crash-cut last line is skipped); the
    ingress rates are derived from them by ``analysis.ingress.with_ingress_rates``."""
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
    return dict(series)
