"""Per-second series by metric name, from load records and recorded samples (pure).

A series is a list of ``(t, value)`` with ``value`` None where the second had no data.
For load metrics a second in which users were running but no request completed has
latency and error rate None: "nothing answered" is never mistaken for "fast".

Two kinds of points (``Sampling``): a load point is a *bin* — everything that completed in
``[t, t+1)`` — while a recorded sample (pids, connections, …) is an *instant* reading taken at
``t`` on the recorder's tick grid, ``record.interval`` apart.

Latency metrics (``p50_ms`` … ``max_ms``) judge **successful** requests by default
(``latency_of: successful``); ``all`` includes failed ones. A fast 500 is not a fast answer.

In the open model an arrival the generator dropped (``max_in_flight`` reached) is a customer who
got nothing: ``error_rate`` over all requests counts each dropped arrival as one failed attempt,
``(failures + dropped) / (requests + dropped)``. A check on one ``request`` or ``profile`` cannot
know which request a dropped arrival would have made, so it counts requests only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from faultdrill.histograms import LoadSecond, RequestStats, max_ms, percentile_ms
from faultdrill.scenario.check_model import (
    CONN_METRICS,
    DELIVERY_METRICS,
    LOAD_METRICS,
    OPEN_METRICS,
    PERCENTILE_METRICS,
)

Point = tuple[float, float | None]
Series = list[Point]
SampleSource = Mapping[str, Series]  # recorded series by metric name, e.g. "resources.app.pids"
LATENCY_OF = ("successful", "all")


@dataclass(frozen=True)
class Sampling:
    """How far apart a series' points are, and whether each is a bin ``[t, t+step)`` or an instant ``t``."""

    step: float
    binned: bool


LOAD_SAMPLING = Sampling(1.0, True)


def sampling_for(metric: str, interval: float) -> Sampling:
    """Load metrics are one-second bins; recorded series are instants ``interval`` apart."""
    return LOAD_SAMPLING if metric in LOAD_METRICS else Sampling(float(interval), False)


def request_matches(label: str, request: str) -> bool:
    """``GET /ok`` is recorded for a locustfile's ``name="/ok"``: either spelling names it."""
    if label == request:
        return True
    _, _, path = label.partition(" ")
    return path == request


def _matching(requests: Mapping[str, RequestStats], request: str) -> list[RequestStats]:
    exact = requests.get(request)
    if exact is not None:
        return [exact]
    return [stats for label, stats in requests.items() if request_matches(label, request)]


def stats_of(second: LoadSecond, request: str | None = None, profile: str | None = None) -> RequestStats | None:
    """One second's requests: all of them, one request name, one client profile, or both."""
    requests = second.requests if profile is None else second.by_profile().get(profile)
    if requests is None:
        return None
    picked = list(requests.values()) if request is None else _matching(requests, request)
    if request is not None and not picked:
        return None
    if len(picked) == 1:
        return picked[0]
    total = RequestStats()
    for stats in picked:
        total.add(stats)
    return total


def latency_hist(stats: RequestStats, latency_of: str = "successful") -> HdrHistogram | None:
    """The histogram a latency metric reads: successful requests (None when not recorded) or all."""
    return stats.hist if latency_of == "all" else stats.ok_hist


def conn_value(metric: str, second: LoadSecond, profile: str | None) -> float:
    """Client-side connection counts (``connects``, ``tls_errors``) for one profile or all of them."""
    field = {"connects": "connects", "tls_errors": "tls_errors", "connect_errors": "connect_errors"}[metric]
    conns = second.conns.values() if profile is None else [c for p, c in second.conns.items() if p == profile]
    return float(sum(getattr(c, field) for c in conns))


def open_value(metric: str, second: LoadSecond) -> float | None:
    """The open model's per-second honesty record: ``intended``, ``dropped``, ``late``, ``lag_ms``."""
    o = second.open
    if o is None:
        return None
    return float(getattr(o, metric))


def dropped_of(second: LoadSecond, request: str | None, profile: str | None) -> int:
    """Dropped arrivals that count as failed attempts for this selection (all requests only)."""
    if request is not None or profile is not None or second.open is None:
        return 0
    return second.open.dropped


def load_value(metric: str, stats: RequestStats | None, users: int, *, dropped: int = 0,
               latency_of: str = "successful") -> float | None:
    count = stats.count if stats else 0
    if metric == "users":
        return float(users)
    if metric in ("rps", "requests"):
        return float(count)
    if metric == "failures":
        return float(stats.failures if stats else 0)
    if metric == "error_rate":
        failed = (stats.failures if stats else 0) + dropped
        return failed / (count + dropped) if count + dropped else None
    if stats is None or count == 0:
        return None
    hist = latency_hist(stats, latency_of)
    if hist is None:
        return None
    if metric in PERCENTILE_METRICS:
        return percentile_ms(hist, PERCENTILE_METRICS[metric])
    if metric == "max_ms":
        return max_ms(hist)
    raise KeyError(metric)


def second_value(metric: str, second: LoadSecond, request: str | None = None, profile: str | None = None,
                 latency_of: str = "successful") -> float | None:
    """One load metric's value for one second (what checks, aborts and the live view read)."""
    if metric in CONN_METRICS:
        return conn_value(metric, second, profile)
    if metric in OPEN_METRICS:
        return open_value(metric, second)
    if metric in DELIVERY_METRICS:
        return second.delivered_ratio
    stats = stats_of(second, request, profile)
    return load_value(metric, stats, second.users, dropped=dropped_of(second, request, profile),
                      latency_of=latency_of)


def idle(second: LoadSecond, request: str | None = None, profile: str | None = None) -> bool:
    """No users, no request, nothing intended and nothing planned: not a data point. (A second the
    shape planned load for, that none came in — every worker lost — is one.)"""
    stats = stats_of(second, request, profile)
    intended = second.open.intended if second.open is not None else 0
    return second.users == 0 and (stats is None or stats.count == 0) and intended == 0 and not second.planned


def load_series(seconds: Sequence[LoadSecond], metric: str, request: str | None = None,
                profile: str | None = None, latency_of: str = "successful") -> Series:
    """Seconds with no users and no requests are left out (no load is not a data point)."""
    return [(float(s.t), second_value(metric, s, request, profile, latency_of))
            for s in seconds if not idle(s, request, profile)]


def series_for(metric: str, request: str | None, seconds: Sequence[LoadSecond],
               samples: SampleSource | None = None, profile: str | None = None,
               latency_of: str = "successful") -> Series:
    if metric in LOAD_METRICS:
        return load_series(seconds, metric, request, profile, latency_of)
    return list((samples or {}).get(metric, []))
