"""The load generator's per-second records, appended to CSV and JSONL files as they arrive.

Files (documented in docs/results.md):

* ``timeseries.csv`` — one row a second, all requests: ``t, wall, users, requests, failures, rps,
  error_rate, p50_ms, p95_ms, p99_ms, max_ms`` (every request, failures too), then ``ok_p50_ms,
  ok_p95_ms, ok_p99_ms`` (the successful requests only), then ``planned, delivered`` (arrivals in open
  mode, users in closed mode: what the shape asked for and what the load generators delivered).
* ``requests.csv`` — the same per request name (``name`` column), for seconds where it ran.
* ``histograms.jsonl`` — the encoded HdrHistogram of each request name each second, so any window's
  true percentiles can be computed again later.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

from faultdrill.clock import RunClock
from faultdrill.histograms import LoadSecond, RequestStats, max_ms, percentile_ms

OK_COLUMNS = ["ok_p50_ms", "ok_p95_ms", "ok_p99_ms"]  # appended: readers by position keep working
DELIVERY_COLUMNS = ["planned", "delivered"]  # what the shape asked of the second, what the generators sent
TIMESERIES_COLUMNS = ["t", "wall", "users", "requests", "failures", "rps", "error_rate",
                      "p50_ms", "p95_ms", "p99_ms", "max_ms", *OK_COLUMNS, *DELIVERY_COLUMNS]
REQUEST_COLUMNS = ["t", "name", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors",
                   *OK_COLUMNS]


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _row(stats: RequestStats) -> list[int | str]:
    return [stats.count, stats.failures, _fmt(percentile_ms(stats.hist, 50)), _fmt(percentile_ms(stats.hist, 95)),
            _fmt(percentile_ms(stats.hist, 99)), _fmt(max_ms(stats.hist))]


def _ok_row(stats: RequestStats) -> list[str]:
    """Successful requests' percentiles; empty when none succeeded or it is unknown (an old record)."""
    return [_fmt(percentile_ms(stats.ok_hist, pct)) for pct in (50, 95, 99)]


class LoadSeriesWriter:
    def __init__(self, timeseries: Path, requests: Path, histograms: Path, clock: RunClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._files = [open(p, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
                       for p in (timeseries, requests, histograms)]
        self._ts, self._rq = csv.writer(self._files[0]), csv.writer(self._files[1])
        self._ts.writerow(TIMESERIES_COLUMNS)
        self._rq.writerow(REQUEST_COLUMNS)
        self._flush()
        self.seconds: list[LoadSecond] = []

    def _flush(self) -> None:
        for fh in self._files:
            fh.flush()

    def write(self, second: LoadSecond) -> None:
        total = second.total()
        counts = _row(total)
        error_rate = f"{total.failures / total.count:.4f}" if total.count else ""
        with self._lock:
            self.seconds.append(second)
            planned = "" if second.planned is None else f"{second.planned:g}"
            delivered = "" if second.planned is None else f"{second.delivered:g}"
            self._ts.writerow([second.t, self.clock.wall(second.t), second.users, counts[0], counts[1], counts[0],
                               error_rate, *counts[2:], *_ok_row(total), planned, delivered])
            for name, stats in sorted(second.requests.items()):
                self._rq.writerow([second.t, name, *_row(stats), json.dumps(stats.errors) if stats.errors else "",
                                   *_ok_row(stats)])
            self._files[2].write(json.dumps(second.to_wire(), separators=(",", ":")) + "\n")
            self._flush()

    def close(self) -> None:
        with self._lock:
            for fh in self._files:
                fh.close()

    def __enter__(self) -> LoadSeriesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_load_seconds(path: Path) -> list[LoadSecond]:
    seconds = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                seconds.append(LoadSecond.from_wire(json.loads(line)))
            except (ValueError, KeyError):
                continue  # cut short by a crash
    return seconds
