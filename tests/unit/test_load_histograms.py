"""Per-second records: exact merging across workers, profiles, the wire format and its old form."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from faultdrill.clock import RunClock
from faultdrill.histograms import ConnStats, LoadSecond, OpenStats, RequestStats, merge, percentile_ms, record_ms
from faultdrill.load.recording import Buckets, Merger, generator_warnings
from faultdrill.recorder.load_series import LoadSeriesWriter, read_load_seconds


def stats(values: list[float], failures: int = 0) -> RequestStats:
    """``values`` requests; the first ``failures`` of them failed (HTTP 503)."""
    out = RequestStats()
    for i, v in enumerate(values):
        out.count += 1
        record_ms(out.hist, v)
        if i >= failures:
            assert out.ok_hist is not None
            record_ms(out.ok_hist, v)
    out.failures = failures
    if failures:
        out.errors = {"HTTP 503": failures}
    return out


def test_merging_workers_equals_recording_everything_in_one() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(3000)]
    workers = [values[i::3] for i in range(3)]
    merged = LoadSecond(4, 0, workers=0)
    for i, part in enumerate(workers):
        merged.merge(LoadSecond(4, 10, {"GET /": stats(part, failures=i)}))
    whole = stats(values)
    for pct in (50, 90, 99, 99.9, 100):
        assert percentile_ms(merged.requests["GET /"].hist, pct) == percentile_ms(whole.hist, pct)
    assert merged.requests["GET /"].count == 3000 and merged.users == 30 and merged.workers == 3
    assert merged.requests["GET /"].errors == {"HTTP 503": 3}


def test_wire_round_trip_keeps_every_field() -> None:
    second = LoadSecond(7, 12, {"GET /": stats([1, 2, 3])}, {"legacy": {"GET /": stats([1])},
                                                             "modern": {"GET /": stats([2, 3])}},
                        {"legacy": ConnStats(1, 1, 0, 0, 1), "modern": ConnStats(2, 1, 0, 1, 0)},
                        OpenStats(100, 90, 3, 10, 12.5, 4), 55.0, 2, ["x"])
    back = LoadSecond.from_wire(second.to_wire())
    assert back.to_wire() == second.to_wire()
    assert back.by_profile()["legacy"]["GET /"].count == 1
    assert back.conns["legacy"].tls_errors == 1 and back.open is not None and back.open.dropped == 10
    assert back.saturated


def old_wire(request: RequestStats) -> dict:
    """A request's record as written before ``ok_hist`` existed."""
    wire = request.to_wire()
    del wire["ok_hist"]
    return wire


def test_old_lines_still_read() -> None:
    old = {"type": "second", "t": 3, "users": 5, "requests": {"GET /": old_wire(stats([5.0]))}}
    second = LoadSecond.from_wire(old)
    assert second.total().count == 1 and second.open is None and second.cpu_pct is None
    assert second.by_profile() == {"default": second.requests} and not second.saturated
    written = second.to_wire()
    assert written["requests"]["GET /"].pop("ok_hist") == old["requests"]["GET /"]["hist"]  # all succeeded
    assert written == old  # and written back the same way


# -- successful requests apart (issue 12: fast 503s made a fault window look faster) ----------------
def test_fast_failures_do_not_pull_down_the_successful_requests_percentiles() -> None:
    buckets = Buckets(t0=0.0)
    buckets.second = lambda: 4  # type: ignore[method-assign]
    ok_ms = [380.0 + i % 10 for i in range(45)]
    for ms in ok_ms:
        buckets.add("GET /", ms, None)
    for _ in range(55):  # a breaker answering 503 at once
        buckets.add("GET /", 1.5, "HTTP 503")
    out = buckets.pop(4, users=10).requests["GET /"]
    assert out.count == 100 and out.failures == 55
    assert percentile_ms(out.hist, 50) < 2  # type: ignore[operator]  # every request: looks fast
    assert 380 <= percentile_ms(out.ok_hist, 50) <= 390  # type: ignore[operator]  # what users who got an answer saw
    assert out.ok_hist is not None and out.ok_hist.get_total_count() == 45
    assert out.ok_hist.encode() == stats(ok_ms).hist.encode()  # exact: the same as recording only successes
    assert out.hist.encode() == stats([1.5] * 55 + ok_ms).hist.encode()


def test_a_second_without_failures_has_identical_histograms() -> None:
    buckets = Buckets(t0=0.0)
    buckets.second = lambda: 0  # type: ignore[method-assign]
    for ms in (1.0, 20.0, 300.0):
        buckets.add("GET /", ms, None)
    out = buckets.pop(0, users=1).requests["GET /"]
    assert out.ok_hist is not None and out.ok_hist.encode() == out.hist.encode()


def test_successful_requests_merge_exactly_across_workers() -> None:
    rng = random.Random(11)
    values = [rng.lognormvariate(3, 1) for _ in range(3000)]
    parts = [values[i::3] for i in range(3)]
    merged = LoadSecond(2, 0, workers=0)
    for part in parts:  # each worker: its first 100 requests failed
        merged.merge(LoadSecond(2, 1, {"GET /": stats(part, failures=100)}))
    ok = stats([v for part in parts for v in part[100:]])
    got = merged.requests["GET /"]
    assert got.failures == 300 and got.ok_hist is not None
    assert got.ok_hist.get_total_count() == 2700
    for pct in (50, 90, 99, 99.9, 100):
        assert percentile_ms(got.ok_hist, pct) == percentile_ms(ok.hist, pct)
    assert percentile_ms(merged.total().ok_hist, 99) == percentile_ms(ok.hist, 99)


def test_an_unknown_part_makes_the_merged_successes_unknown() -> None:
    known, unknown = stats([1, 2], failures=1), RequestStats.from_wire(old_wire(stats([3, 4], failures=1)))
    assert unknown.ok_hist is None  # an old line with failures: which ones succeeded is not known
    known.add(unknown)
    assert known.ok_hist is None and known.count == 4
    assert percentile_ms(known.ok_hist, 95) is None and percentile_ms(known.hist, 95) is not None


def test_ok_hist_goes_over_the_wire_and_old_lines_never_guess_it() -> None:
    mixed = stats([1, 500, 600], failures=1)
    back = RequestStats.from_wire(mixed.to_wire())
    assert back.ok_hist is not None and back.ok_hist.get_total_count() == 2
    assert percentile_ms(back.ok_hist, 1) == percentile_ms(mixed.ok_hist, 1) >= 499  # type: ignore[operator]
    clean_old = RequestStats.from_wire(old_wire(stats([1, 2, 3])))
    assert clean_old.ok_hist is not None and clean_old.ok_hist is not clean_old.hist
    assert clean_old.ok_hist.encode() == clean_old.hist.encode()  # no failures: every request succeeded
    assert RequestStats.from_wire(old_wire(mixed)).ok_hist is None  # failures: unknown, not guessed


def test_buckets_split_profiles_and_keep_the_total() -> None:
    buckets = Buckets(t0=0.0, named_profiles=True)
    buckets.second = lambda: 2  # type: ignore[method-assign]
    buckets.add("GET /", 10, None, "legacy")
    buckets.add("GET /", 20, "tls handshake", "legacy")
    buckets.add("GET /", 30, None, "modern")
    buckets.count_conn("legacy", "tls_errors")
    out = buckets.pop(2, users=3)
    assert out.requests["GET /"].count == 3 and out.requests["GET /"].failures == 1
    assert out.profiles["legacy"]["GET /"].count == 2 and out.profiles["modern"]["GET /"].count == 1
    assert out.conns["legacy"].requests == 2 and out.conns["legacy"].tls_errors == 1


def test_warnings_say_when_the_generator_is_the_bottleneck() -> None:
    quiet = LoadSecond(1, 0, open=OpenStats(200, 200, 1, 0, 4.0), cpu_pct=40.0)
    assert generator_warnings(quiet, 0.01) == []
    busy = LoadSecond(1, 0, open=OpenStats(5000, 3000, 900, 2000, 250.0), cpu_pct=99.0)
    text = " ".join(generator_warnings(busy, 0.01))
    assert "CPU at 99%" in text and "2000 of 5000 sends dropped" in text and "900 of 5000 sends late" in text


def test_merger_releases_a_second_when_every_worker_sent_it() -> None:
    merger = Merger(2, started_t=0.5)
    merger.add(0, LoadSecond(0, 1, {"GET /": stats([1])}))
    assert merger.ready(now_t=1.1) == []  # worker 1 not yet
    merger.add(1, LoadSecond(0, 2, {"GET /": stats([2])}))
    [second] = merger.ready(now_t=1.1)
    assert second.t == 0 and second.total().count == 2 and second.users == 3 and second.workers == 2


def test_merger_gives_up_on_a_silent_worker_and_says_so() -> None:
    merger = Merger(2, started_t=0.0)
    merger.add(0, LoadSecond(0, 1, {"GET /": stats([1])}))
    assert merger.ready(now_t=2.5) == []
    [second] = merger.ready(now_t=3.1)
    assert second.total().count == 1 and "worker(s) [1]" in second.warnings[0]
    merger.add(1, LoadSecond(0, 1, {"GET /": stats([1])}))  # too late: counted as lost, not double
    assert merger.lost == 1


def test_merger_final_flush_and_done_workers() -> None:
    merger = Merger(2, started_t=0.0, last_t=3)
    merger.add(0, LoadSecond(0, 1, {"GET /": stats([1])}))
    merger.done.add(1)
    merger.add(0, LoadSecond(1, 1, {"GET /": stats([1])}))
    out = merger.ready(now_t=1.5, final=True)
    assert [s.t for s in out] == [0, 1]
    assert merger.ready(now_t=99, final=True) == []  # nothing more is known: no empty tail


def test_merge_function_matches_add() -> None:
    a, b = stats([1, 2]), stats([3])
    assert merge([a.hist, b.hist]).get_total_count() == 3


def test_buckets_record_the_same_histogram_as_recording_each_value() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(2, 1.5) for _ in range(5000)] + [0.0001, 599_999_000.0, 700_000_000.0]
    buckets = Buckets(t0=0.0)
    buckets.second = lambda: 0  # type: ignore[method-assign]
    for v in values:
        buckets.add("GET /", v, None)
    fast = buckets.pop(0, users=1).requests["GET /"].hist
    direct = stats(values).hist
    assert fast.get_total_count() == direct.get_total_count() == len(values)
    for pct in (1, 10, 50, 90, 99, 99.99, 100):
        assert fast.get_value_at_percentile(pct) == direct.get_value_at_percentile(pct)
    assert fast.encode() == direct.encode()


def test_timeseries_and_requests_csv_have_successful_percentiles_apart(tmp_path: Path) -> None:
    paths = [tmp_path / n for n in ("timeseries.csv", "requests.csv", "histograms.jsonl")]
    with LoadSeriesWriter(*paths, RunClock()) as writer:
        writer.write(LoadSecond(0, 10, {"GET /": stats([1.0] * 55 + [385.0] * 45, failures=55)}))
        old = {"type": "second", "t": 1, "users": 10, "requests": {"GET /": old_wire(stats([2.0, 400.0], failures=1))}}
        writer.write(LoadSecond.from_wire(old))
    [fault, unknown] = list(csv.DictReader(paths[0].open()))
    assert float(fault["p95_ms"]) >= 380 and float(fault["p50_ms"]) < 2  # every request
    assert 380 <= float(fault["ok_p50_ms"]) <= 390 and 380 <= float(fault["ok_p99_ms"]) <= 390  # successes only
    assert unknown["ok_p50_ms"] == unknown["ok_p95_ms"] == unknown["ok_p99_ms"] == ""  # not known: not guessed
    [row, _] = list(csv.DictReader(paths[1].open()))
    assert row["name"] == "GET /" and row["errors"] == '{"HTTP 503": 55}' and 380 <= float(row["ok_p95_ms"]) <= 390
    back = read_load_seconds(paths[2])
    assert back[0].requests["GET /"].ok_hist.get_total_count() == 45  # type: ignore[union-attr]


def test_an_arrival_whose_second_was_already_written_lands_in_the_first_open_second() -> None:
    buckets = Buckets(t0=0.0)
    buckets.open_stats(5).intended += 1
    written = buckets.pop(5, users=1, open_model=True)
    assert written.open is not None and written.open.intended == 1
    late = buckets.open_stats(5)  # the arrival due in second 5 ran after second 5 was written
    late.sent += 1
    late.late += 1
    buckets.open_stats(6).intended += 1
    next_second = buckets.pop(6, users=1, open_model=True)
    assert next_second.open is not None
    assert (next_second.open.sent, next_second.open.late, next_second.open.intended) == (1, 1, 1)
    assert buckets.opens == {}  # nothing left behind in a second that is gone
