"""Per-second recording on the run clock, and the master's exact merge of workers' seconds.

No gevent, no Locust: unit-testable. The load child's processes use these.
"""

from __future__ import annotations

import logging
import time

from faultdrill.histograms import (
    DEFAULT_PROFILE,
    HIGHEST_US,
    LOWEST_US,
    ConnStats,
    LoadSecond,
    OpenStats,
    RequestStats,
)

log = logging.getLogger("faultdrill.load")

CPU_WARN_PCT = 90.0
MERGE_GRACE_S = 2.0  # the master waits this long past a second's end for every worker's record
SUB_BUCKET_BITS = 8  # HdrHistogram with 2 significant digits: 256 sub-buckets, half = 2^7


def hdr_key(us: int) -> int:
    """The lowest value HdrHistogram(1, ..., 2 digits) treats as equal to ``us``.

    Recording ``hdr_key(v)`` instead of ``v`` gives a bucket-for-bucket identical histogram, so
    the hot path can count plain ints in a dict and record each distinct value once per second
    (HdrHistogram's pure-Python ``record_value`` costs ~4 µs a call).
    """
    shift = us.bit_length() - SUB_BUCKET_BITS
    return us if shift <= 0 else (us >> shift) << shift


class _Acc:
    """One (profile, request name) within one second: counts, and latency values bucketed by ``hdr_key``.

    ``values`` counts every request's value, ``failed_values`` the failed ones'; the successful
    requests' histogram is the difference, taken once per second in ``stats``. Recording the
    failures (not the successes) apart keeps a successful request's cost at one dict update.
    """

    __slots__ = ("count", "errors", "failed_values", "failures", "values")

    def __init__(self) -> None:
        self.count = 0
        self.failures = 0
        self.errors: dict[str, int] = {}
        self.values: dict[int, int] = {}
        self.failed_values: dict[int, int] = {}

    def stats(self) -> RequestStats:
        """``hist`` of every request and ``ok_hist`` of the successful ones, bucket for bucket exact."""
        out = RequestStats(self.count, self.failures, errors=self.errors)
        assert out.ok_hist is not None
        failed = self.failed_values
        for value, n in self.values.items():
            out.hist.record_value(value, n)
            ok = n - failed.get(value, 0)
            if ok:
                out.ok_hist.record_value(value, ok)
        return out


class Buckets:
    """Per-second, per-profile, per-request-name stats on the run clock, plus connection counters
    and the open model's send accounting."""

    def __init__(self, t0: float, named_profiles: bool = False) -> None:
        self.t0 = t0
        self.named_profiles = named_profiles
        self.data: dict[int, dict[tuple[str, str], _Acc]] = {}
        self.conns: dict[int, dict[str, ConnStats]] = {}
        self.opens: dict[int, OpenStats] = {}
        self.written_through = -1  # the last second handed out by ``pop``: closed for good

    def second(self) -> int:
        return int(time.monotonic() - self.t0)

    def add(self, name: str, ms: float, failure: str | None, profile: str = DEFAULT_PROFILE) -> None:
        second = self.second()
        per_second = self.data.get(second)
        if per_second is None:
            per_second = self.data[second] = {}
        acc = per_second.get((profile, name))
        if acc is None:
            acc = per_second[(profile, name)] = _Acc()
        acc.count += 1
        key = hdr_key(min(max(int(ms * 1000), LOWEST_US), HIGHEST_US))
        acc.values[key] = acc.values.get(key, 0) + 1
        if failure:
            acc.failures += 1
            acc.errors[failure] = acc.errors.get(failure, 0) + 1
            acc.failed_values[key] = acc.failed_values.get(key, 0) + 1
        self._conn(second, profile).requests += 1

    def _conn(self, second: int, profile: str) -> ConnStats:
        per_second = self.conns.get(second)
        if per_second is None:
            per_second = self.conns[second] = {}
        conn = per_second.get(profile)
        if conn is None:
            conn = per_second[profile] = ConnStats()
        return conn

    def count_conn(self, profile: str, counter: str) -> None:
        conn = self._conn(self.second(), profile)
        setattr(conn, counter, getattr(conn, counter) + 1)

    def open_stats(self, second: int) -> OpenStats:
        """The open model's accounting of ``second`` (of intended time). An arrival that runs after its
        second was written (a starved generator) is counted in the first second still open — where its
        lag makes it late — never added to a second that is gone (it used to vanish there)."""
        second = max(second, self.written_through + 1)
        stats = self.opens.get(second)
        if stats is None:
            stats = self.opens[second] = OpenStats()
        return stats

    def pop(self, second: int, users: int, *, open_model: bool = False, cpu_pct: float | None = None,
            in_flight: int = 0, late_after: float = 0.01) -> LoadSecond:
        self.written_through = max(self.written_through, second)
        requests: dict[str, RequestStats] = {}
        profiles: dict[str, dict[str, RequestStats]] = {}
        for (profile, name), acc in self.data.pop(second, {}).items():
            stats = acc.stats()
            if self.named_profiles:
                profiles.setdefault(profile, {})[name] = stats
                merged = requests.setdefault(name, RequestStats())
                merged.add(stats)
            else:
                requests[name] = stats
        open_stats = None
        if open_model:
            open_stats = self.opens.pop(second, OpenStats())
            open_stats.in_flight = in_flight
        out = LoadSecond(second, users, requests, profiles, self.conns.pop(second, {}), open_stats, cpu_pct)
        out.warnings = generator_warnings(out, late_after)
        return out


def generator_warnings(second: LoadSecond, late_after: float) -> list[str]:
    """Why this second's load may be less than the shape asked for (the generator saturated). Pure."""
    warnings = []
    if second.cpu_pct is not None and second.cpu_pct >= CPU_WARN_PCT:
        warnings.append(f"load generator CPU at {second.cpu_pct:.0f}%: it may be the bottleneck "
                        "(add load.workers)")
    o = second.open
    if o is not None and o.dropped:
        warnings.append(f"{o.dropped} of {o.intended} sends dropped (max_in_flight reached, "
                        "or the generator was not running yet)")
    if o is not None and o.late and o.late > 0.01 * max(o.intended, 1):
        warnings.append(f"{o.late} of {o.intended} sends late by more than {late_after * 1000:.0f} ms "
                        f"(worst {o.lag_ms:.0f} ms)")
    return warnings


class CpuMeter:
    """This process's CPU use since the last sample, in percent of one core."""

    def __init__(self) -> None:
        self._cpu, self._wall = time.process_time(), time.monotonic()

    def sample(self) -> float | None:
        """None when too little time has passed to say (e.g. seconds caught up at start-up)."""
        cpu, wall = time.process_time(), time.monotonic()
        if wall - self._wall < 0.5:
            return None
        pct = 100.0 * (cpu - self._cpu) / (wall - self._wall)
        self._cpu, self._wall = cpu, wall
        return pct


class Merger:
    """The master's exact merge of the workers' seconds (pure bookkeeping; no I/O).

    Second ``t`` is released once every worker has sent it (or has finished), or when it is
    ``grace`` seconds overdue (counted from when merging began, so start-up is not "overdue").
    """

    def __init__(self, workers: int, started_t: float = 0.0, last_t: int | None = None,
                 late_after: float = 0.01) -> None:
        self.workers = workers
        self.late_after = late_after
        self.last_t = last_t  # seconds after this are released only when some worker sent them
        self.started_t = started_t
        self.pending: dict[int, dict[int, LoadSecond]] = {}
        self.done: set[int] = set()
        self.next = 0
        self.lost = 0

    def add(self, worker: int, second: LoadSecond) -> None:
        if second.t < self.next:
            self.lost += second.total().count
            log.warning("worker %d sent second %d after it was released; its %d requests are not counted",
                        worker, second.t, second.total().count)
            return
        self.pending.setdefault(second.t, {})[worker] = second

    def ready(self, now_t: float, grace: float = MERGE_GRACE_S, final: bool = False) -> list[LoadSecond]:
        out = []
        while True:
            got = self.pending.get(self.next, {})
            if not got and not any(t > self.next for t in self.pending) and (
                    final or len(self.done) == self.workers or now_t < self.next + 1
                    or (self.last_t is not None and self.next > self.last_t)):
                break  # nothing more is known, or this second has not ended yet
            complete = all(w in got or w in self.done for w in range(self.workers))
            overdue = now_t >= max(self.next + 1, self.started_t) + grace
            if not (complete or overdue or final):
                break
            merged = LoadSecond(self.next, 0, workers=0)
            for worker in sorted(got):
                merged.merge(got[worker])
            merged.warnings = generator_warnings(merged, self.late_after)  # of the whole, not per worker
            missing = [w for w in range(self.workers) if w not in got and w not in self.done]
            if missing:
                merged.warnings.append(f"no record from load worker(s) {missing} within {grace:g}s")
            out.append(merged)
            self.pending.pop(self.next, None)
            self.next += 1
        return out
