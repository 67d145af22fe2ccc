"""Windows, true percentiles over windows, and checks, on synthetic series with known answers."""

from __future__ import annotations

from faultdrill.analysis.checks import judge
from faultdrill.analysis.summary import window_stats
from faultdrill.analysis.windows import FaultInterval, build_windows
from faultdrill.histograms import LoadSecond, RequestStats, decode, encode, merge, percentile_ms, record_ms
from faultdrill.scenario.model import Check


def second(t: int, latencies_ms: list[float], failures: int = 0, name: str = "GET /") -> LoadSecond:
    stats = RequestStats()
    for i, ms in enumerate(latencies_ms):
        stats.record(ms, "HTTP 502" if i < failures else None)
    return LoadSecond(t, 10, {name: stats})


def series() -> list[LoadSecond]:
    # 0-9 s: 10 ms; 10-19 s (fault): 250 ms with 1 failure a second; 20-29 s: 12 ms
    return ([second(t, [10.0] * 50) for t in range(10)]
            + [second(t, [250.0] * 20, failures=1) for t in range(10, 20)]
            + [second(t, [12.0] * 50) for t in range(20, 30)])


def test_windows_split_the_run_around_faults() -> None:
    windows = build_windows(30, [FaultInterval("slow", 10.0, 20.0)])
    assert windows["baseline"].spans == ((0.0, 10.0),)
    assert windows["slow"].spans == ((10.0, 20.0),)
    assert windows["recovery"].spans == ((20.0, 30.0),)
    assert windows["run"].seconds == 30


def test_overlapping_faults_make_one_fault_window() -> None:
    windows = build_windows(60, [FaultInterval("a", 10, 30), FaultInterval("b", 20, 40), FaultInterval("c", 50, None)])
    assert windows["fault"].spans == ((10, 40), (50, 60))
    assert windows["baseline"].spans == ((0.0, 10),)
    # recovery starts after the last *healed* fault (b, at 40); c did not end, and the window says so
    assert windows["recovery"].spans == ((40, 60),) and windows["recovery"].overlapping == ("c",)
    assert "'c' was still on" in windows["recovery"].note and windows["c"].note == "did not end"


def test_window_percentiles_are_true_percentiles_over_merged_histograms() -> None:
    windows = build_windows(30, [FaultInterval("slow", 10.0, 20.0)])
    base = window_stats(series(), windows["baseline"])
    slow = window_stats(series(), windows["slow"])
    run = window_stats(series(), windows["run"])
    assert base.requests == 500 and base.seconds == 10 and base.rps == 50
    assert abs(base.p50_ms - 10) < 0.2
    assert abs(slow.p50_ms - 250) < 3 and slow.failures == 10 and slow.error_rate == 0.05
    assert slow.errors == {"HTTP 502": 10}
    # 1200 requests, 200 of them slow: the run's p90 is fast, its p99 slow — not an average of seconds
    assert run.p95_ms > 200 and abs(run.p50_ms - 12) < 0.5


def test_histograms_survive_the_wire_and_merge_exactly() -> None:
    a, b = RequestStats(), RequestStats()
    for ms in range(1, 101):
        record_ms(a.hist, ms)
    for ms in range(101, 201):
        record_ms(b.hist, ms)
    merged = merge([decode(encode(a.hist)), decode(encode(b.hist))])
    assert merged.get_total_count() == 200
    assert abs(percentile_ms(merged, 50) - 100) <= 1


def test_seconds_from_two_workers_merge() -> None:
    one, two = second(3, [10.0] * 5), second(3, [30.0] * 5, failures=2)
    one.merge(two)
    total = one.total()
    assert total.count == 10 and total.failures == 2 and one.users == 20


def test_checks_pass_fail_and_explain() -> None:
    windows = build_windows(30, [FaultInterval("slow", 10.0, 20.0)])
    ok = judge(Check(name="fast", metric="p95_ms", window="baseline", max=50), series(), windows)
    bad = judge(Check(name="fast in fault", metric="p95_ms", window="slow", max=50), series(), windows)
    err = judge(Check(name="errors", metric="error_rate", window="fault", max=0.01), series(), windows)
    assert ok.passed and ok.value is not None and ok.value < 50
    assert not bad.passed and "outside <= 50" in bad.reason
    assert not err.passed and err.value == 0.05


def test_check_on_an_empty_window_fails_with_a_reason() -> None:
    windows = build_windows(30, [FaultInterval("slow", 10.0, None)])  # on until the run ended
    result = judge(Check(name="recovers", metric="p95_ms", window="recovery", max=50), series(), windows)
    assert not result.passed and result.value is None
    assert "'recovery' is empty" in result.reason and "no fault was healed" in result.reason
    stats = window_stats(series(), windows["recovery"])
    assert stats.empty and stats.seconds == 0 and stats.p95_ms is None and stats.error_rate is None
