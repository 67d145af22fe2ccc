"""Per-second series by metric name, from load records and recorded samples (pure).

A series is a list of ``(t, value)`` with ``value`` None where the second had no data.
For load metrics a second in which users were running but no request completed has
latency and error rate None: "nothing answered" is never mistaken for "fast".
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from faultdrill.load.histograms import LoadSecond, RequestStats, max_ms, percentile_ms
from faultdrill.scenario.check_model import CONN_METRICS, PERCENTILE_METRICS

Point = tuple[float, float | None]
Series = list[Point]
SampleSource = Mapping[str, Series]  # recorded series by metric name, e.g. "resources.app.pids"


def stats_of(second: LoadSecond, request: str | None = None, profile: str | None = None) -> RequestStats | None:
    """One second's requests: all of them, one request name, one client profile, or both."""
    requests = second.requests if profile is None else second.by_profile().get(profile)
    if requests is None:
        return None
    if request is None:
        total = RequestStats()
        for stats in requests.values():
            total.add(stats)
        return total
    return requests.get(request)


_stats = stats_of


def conn_value(metric: str, second: LoadSecond, profile: str | None) -> float:
    """Client-side connection counts (``connects``, ``tls_errors``) for one profile or all of them."""
    field = {"connects": "connects", "tls_errors": "tls_errors", "connect_errors": "connect_errors"}[metric]
    conns = second.conns.values() if profile is None else [c for p, c in second.conns.items() if p == profile]
    return float(sum(getattr(c, field) for c in conns))


def load_value(metric: str, stats: RequestStats | None, users: int) -> float | None:
    count = stats.count if stats else 0
    if metric == "users":
        return float(users)
    if metric in ("rps", "requests"):
        return float(count)
    if metric == "failures":
        return float(stats.failures if stats else 0)
    if stats is None or count == 0:
        return None
    if metric == "error_rate":
        return stats.failures / count
    if metric in PERCENTILE_METRICS:
        return percentile_ms(stats.hist, PERCENTILE_METRICS[metric])
    if metric == "max_ms":
        return max_ms(stats.hist)
    raise KeyError(metric)


def load_series(seconds: Sequence[LoadSecond], metric: str, request: str | None = None,
                profile: str | None = None) -> Series:
    """Seconds with no users and no requests are left out (no load is not a data point)."""
    out: Series = []
    for second in seconds:
        stats = stats_of(second, request, profile)
        if second.users == 0 and (stats is None or stats.count == 0):
            continue
        value = (conn_value(metric, second, profile) if metric in CONN_METRICS
                 else load_value(metric, stats, second.users))
        out.append((float(second.t), value))
    return out


def series_for(metric: str, request: str | None, seconds: Sequence[LoadSecond],
               samples: SampleSource | None = None, profile: str | None = None) -> Series:
    from faultdrill.scenario.check_model import LOAD_METRICS

    if metric in LOAD_METRICS:
        return load_series(seconds, metric, request, profile)
    return list((samples or {}).get(metric, []))


Judge = Callable[[float], bool]
