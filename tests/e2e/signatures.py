"""The incident signatures a responder would recognise, read from a finished run's raw files.

Each function reads what the run recorded (``histograms.jsonl``, ``connections.csv``,
``resources.csv``, ``db.csv``, ``ingress.csv``, ``summary.json``) and returns plain numbers, so a test
states the signature in a user's words: "successful p95 rose 10× before errors took over", "the app's
connections were flat at their limit", "the ingress read fewer requests than the clients sent".
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from hdrh.histogram import HdrHistogram

from faultdrill.analysis.ingress import ingress_rates
from faultdrill.histograms import LoadSecond, new_histogram, percentile_ms
from faultdrill.recorder.load_series import read_load_seconds
from faultdrill.report.data import parse_connections, parse_db, parse_ingress, parse_resources
from faultdrill.report.resource_plots import OPEN_STATES


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def window(run_dir: Path, name: str) -> tuple[float, float]:
    w = summary(run_dir)["windows"][name]
    return float(w["start"]), float(w["end"])


def seconds(run_dir: Path) -> list[LoadSecond]:
    return read_load_seconds(run_dir / "histograms.jsonl")


def _merged_ok(items: list[LoadSecond]) -> HdrHistogram | None:
    merged: HdrHistogram | None = None
    for s in items:
        hist = s.total().ok_hist
        if hist is None or hist.get_total_count() == 0:
            continue
        if merged is None:
            merged = new_histogram()
        merged.add(hist)
    return merged


def ok_p95(items: list[LoadSecond], start: float, end: float) -> float | None:
    """p95 of the successful requests that completed in ``[start, end)`` (one window, not per second)."""
    return percentile_ms(_merged_ok([s for s in items if start <= s.t < end]), 95)


def error_share(s: LoadSecond) -> float:
    total = s.total()
    dropped = s.open.dropped if s.open is not None else 0
    attempts = total.count + dropped
    return (total.failures + dropped) / attempts if attempts else 0.0


def errors_dominate_at(items: list[LoadSecond], after: float, share: float = 0.5) -> float | None:
    """The first second from ``after`` on where failed attempts are ``share`` of them, two seconds running."""
    ordered = sorted((s for s in items if s.t >= after), key=lambda s: s.t)
    for a, b in itertools.pairwise(ordered):
        if error_share(a) >= share and error_share(b) >= share:
            return float(a.t)
    return None


@dataclass(frozen=True)
class LatencyClimb:
    baseline_ms: float
    peak_ms: float        # the highest per-second successful p95 before errors dominated
    peak_at: float
    errors_at: float | None

    @property
    def factor(self) -> float:
        return self.peak_ms / self.baseline_ms


def latency_climb(run_dir: Path, baseline: tuple[float, float], fault_start: float) -> LatencyClimb:
    items = seconds(run_dir)
    base = ok_p95(items, *baseline)
    assert base is not None, f"no successful request in the baseline {baseline}"
    errors_at = errors_dominate_at(items, fault_start)
    end = errors_at if errors_at is not None else max(s.t for s in items) + 1
    per_second = [(float(s.t), percentile_ms(s.total().ok_hist, 95)) for s in items if fault_start <= s.t < end]
    known = [(t, v) for t, v in per_second if v is not None]
    assert known, f"no successful request between the fault ({fault_start:g}s) and errors dominating ({end:g}s)"
    peak_at, peak = max(known, key=lambda p: p[1])
    return LatencyClimb(base, peak, peak_at, errors_at)


def open_connections(run_dir: Path, service: str, direction: str = "inbound") -> dict[float, float]:
    """ESTABLISHED + CLOSE_WAIT connections of ``service`` per tick (what it holds open)."""
    out: dict[float, float] = {}
    for r in parse_connections((run_dir / "connections.csv").read_text()):
        if r.service == service and r.direction == direction:
            out.setdefault(r.t, 0.0)
            if r.state in OPEN_STATES:
                out[r.t] += r.count
    return out


def longest_plateau(series: dict[float, float], at_least: float) -> tuple[float, float]:
    """The longest run of consecutive ticks at or above ``at_least``: (start, seconds long)."""
    best, start, length, previous = (0.0, 0.0), None, 0.0, None
    for t in sorted(series):
        if series[t] >= at_least and previous is not None and start is not None and t - previous <= 1.5:
            length = t - start
        elif series[t] >= at_least:
            start, length = t, 0.0
        else:
            start = None
        if start is not None and length > best[1]:
            best = (start, length)
        previous = t
    return best


def first_at(series: dict[float, float], at_least: float, after: float = 0.0) -> float | None:
    """The first tick from ``after`` on with a value at or above ``at_least``."""
    return next((t for t in sorted(series) if t >= after and series[t] >= at_least), None)


def resource(run_dir: Path, service: str, field: str) -> dict[float, float]:
    rows = parse_resources((run_dir / "resources.csv").read_text())
    return {r.t: getattr(r, field) for r in rows if r.service == service and getattr(r, field) is not None}


def db_field(run_dir: Path, service: str, column: str) -> dict[float, float]:
    rows = parse_db((run_dir / "db.csv").read_text())
    return {r.t: v for r in rows if r.service == service and (v := r.get(column)) is not None}


def between(series: dict[float, float], start: float, end: float) -> list[float]:
    return [v for t, v in sorted(series.items()) if start <= t < end]


@dataclass(frozen=True)
class BothSides:
    sent_per_s: float        # requests the clients sent, per second
    read_per_s: float        # requests the ingress read, per second

    @property
    def gap(self) -> float:
        return 1 - self.read_per_s / self.sent_per_s


def both_sides(run_dir: Path, start: float, end: float, ingress: str = "ingress") -> BothSides:
    """Mean requests per second over ``[start, end)``: sent by the clients vs read by the ingress."""
    items = [s for s in seconds(run_dir) if start <= s.t < end]
    sent = mean(sum(c.requests for c in (s.conns or {}).values()) for s in items)
    rates = ingress_rates(parse_ingress((run_dir / "ingress.csv").read_text()))[ingress]["requests_per_s"]
    read = [v for t, v in rates if start + 1 <= t <= end and v is not None]  # rate at t covers (t-1, t]
    return BothSides(sent, mean(read))
