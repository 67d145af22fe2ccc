"""Sustained breaches, time to detect and time to recover on synthetic series with known answers."""

from __future__ import annotations

from faultdrill.analysis.breaches import breach_predicate, runs, sustained_runs
from faultdrill.analysis.checks import judge
from faultdrill.analysis.detection import detect
from faultdrill.analysis.windows import FaultInterval, build_windows
from faultdrill.histograms import LoadSecond, RequestStats
from faultdrill.scenario.check_model import Check


def seconds_from(latencies: list[float | None]) -> list[LoadSecond]:
    """One LoadSecond per entry: 20 requests at that latency; None = users running, nothing answered."""
    out = []
    for t, ms in enumerate(latencies):
        stats = RequestStats()
        if ms is not None:
            for _ in range(20):
                stats.record(ms)
        out.append(LoadSecond(t, 10, {"GET /": stats}))
    return out


P95_UNDER_100_FOR_3S = Check(name="fast", metric="p95_ms", max=100, sustained=3)


def test_runs_and_sustained_runs() -> None:
    series = [(0.0, 1.0), (1.0, 9.0), (2.0, 9.0), (3.0, 1.0), (4.0, 9.0), (5.0, 9.0), (6.0, 9.0)]
    bad = breach_predicate(None, 5)
    assert [(r.start, r.end) for r in runs(series, bad)] == [(1.0, 3.0), (4.0, 7.0)]
    assert [(r.start, r.end) for r in sustained_runs(series, bad, 3)] == [(4.0, 7.0)]


def test_a_gap_in_the_series_splits_a_run() -> None:
    series = [(0.0, 9.0), (1.0, 9.0), (5.0, 9.0)]
    assert len(runs(series, breach_predicate(None, 5))) == 2


def test_detect_and_recover_times() -> None:
    # fault 10-20 s; latency goes bad at 12 s, good again from 23 s
    latencies = [10.0] * 12 + [500.0] * 11 + [10.0] * 17
    d = detect(P95_UNDER_100_FOR_3S, FaultInterval("slow", 10, 20), seconds_from(latencies), 40)
    assert d.detected_at == 15 and d.time_to_detect_s == 5  # breach from 12 s, sustained 3 s
    assert d.recovered_at == 23 and d.time_to_recover_s == 3
    assert d.note == "ok"


def test_silence_counts_as_a_breach() -> None:
    latencies = [10.0] * 10 + [None] * 10 + [10.0] * 20  # the server hangs: nothing completes
    d = detect(P95_UNDER_100_FOR_3S, FaultInterval("hang", 10, 20), seconds_from(latencies), 40)
    assert d.time_to_detect_s == 3 and d.time_to_recover_s == 0


def test_a_breach_older_than_the_fault_is_already_breached_not_detected_in_0s() -> None:
    latencies = [500.0] * 15 + [10.0] * 25
    d = detect(P95_UNDER_100_FOR_3S, FaultInterval("late", 10, 20), seconds_from(latencies), 40)
    assert d.note.startswith("already_breached") and d.detected_at is None and d.time_to_detect_s is None
    assert d.recovered_at == 15  # the breach ended while the fault was still on
    assert "recovered_during_fault" in d.note and d.time_to_recover_s is None


def test_never_recovering() -> None:
    latencies = [10.0] * 10 + [500.0] * 30
    d = detect(P95_UNDER_100_FOR_3S, FaultInterval("slow", 10, 20), seconds_from(latencies), 40)
    assert d.time_to_detect_s == 3 and d.recovered_at is None and "never_recovered" in d.note


def test_not_detected_when_the_slo_holds() -> None:
    d = detect(P95_UNDER_100_FOR_3S, FaultInterval("slow", 10, 20), seconds_from([10.0] * 40), 40)
    assert d.detected_at is None and d.note == "held"


def test_overlapping_faults_detect_once_and_recover_against_the_heal_that_ended_the_breach() -> None:
    # a: 10-20 s, b: 18-30 s; latency bad from 12 s until 33 s. Only b's heal (30 s) could end it.
    latencies = [10.0] * 12 + [500.0] * 21 + [10.0] * 17
    secs = seconds_from(latencies)
    faults = [FaultInterval("a", 10, 20), FaultInterval("b", 18, 30)]
    a = detect(P95_UNDER_100_FOR_3S, faults[0], secs, 50, faults=faults)
    b = detect(P95_UNDER_100_FOR_3S, faults[1], secs, 50, faults=faults)
    assert a.detected_at == 15 and a.time_to_detect_s == 5 and a.overlaps == ("b",)
    assert a.recovered_at == 33 and a.recovered_after == "b" and a.time_to_recover_s == 3  # not 13 s after a's heal
    assert b.note == "already_breached" and b.detected_at is None and b.overlaps == ("a",)
    assert b.recovered_after == "b" and b.time_to_recover_s == 3


def test_sustained_check_fails_only_on_a_long_enough_breach() -> None:
    windows = build_windows(40, [])
    short_blip = seconds_from([10.0] * 10 + [500.0] * 2 + [10.0] * 28)
    long_breach = seconds_from([10.0] * 10 + [500.0] * 5 + [10.0] * 25)
    assert judge(P95_UNDER_100_FOR_3S, short_blip, windows).passed
    failed = judge(P95_UNDER_100_FOR_3S, long_breach, windows)
    assert not failed.passed and failed.breaches == ((10.0, 15.0),)
    assert "for 5s from t=10s" in failed.reason


def test_recorded_series_and_aggregations() -> None:
    windows = build_windows(10, [])
    samples = {"resources.app.pids": [(float(t), float(20 + t * 10)) for t in range(10)]}
    secs = seconds_from([10.0] * 10)
    check = Check(name="threads", metric="resources.app.pids", max=100)
    result = judge(check, secs, windows, samples)
    assert not result.passed and result.value == 110 and result.aggregate == "max"
    mean = judge(Check(name="m", metric="resources.app.pids", max=100, aggregate="mean"), secs, windows, samples)
    assert mean.passed and mean.value == 65


def test_explicit_span_window() -> None:
    secs = seconds_from([10.0] * 5 + [500.0] * 5)
    check = Check.model_validate({"name": "late", "metric": "p50_ms", "window": {"from": "5s", "to": "10s"},
                                  "min": 400})
    result = judge(check, secs, build_windows(10, []))
    assert result.passed and result.window == "5s–10s"


def test_abort_monitor_fires_after_a_sustained_breach_only() -> None:
    from faultdrill.analysis.live import AbortMonitor
    from faultdrill.scenario.check_model import Abort

    monitor = AbortMonitor.from_scenario(
        [Abort(name="meltdown", metric="error_rate", max=0.9, sustained=3)],
        [Check(name="reads", metric="p95_ms", max=1000, sustained=4, guard=True)])

    def second(t: int, ok: int, failed: int) -> LoadSecond:
        stats = RequestStats()
        for i in range(ok + failed):
            stats.record(5.0, "HTTP 500" if i < failed else None)
        return LoadSecond(t, 10, {"GET /": stats})

    feed = [second(0, 10, 0), second(1, 0, 10), second(2, 0, 10), second(3, 10, 0),  # 2 s blip: no abort
            second(4, 0, 10), second(5, 0, 10)]
    assert all(monitor.observe_load(s) is None for s in feed)
    reason = monitor.observe_load(second(6, 1, 10))
    assert reason is not None and reason.rule == "meltdown" and reason.since == 4 and reason.at == 7
    assert "error_rate" in reason.detail


def test_checks_can_look_at_one_client_profile() -> None:
    from faultdrill.histograms import ConnStats

    def second(t: int) -> LoadSecond:
        legacy, modern = RequestStats(), RequestStats()
        for _ in range(15):
            legacy.record(5.0, "TLS handshake failed")
        for _ in range(85):
            modern.record(5.0)
        both = RequestStats()
        both.add(legacy)
        both.add(modern)
        return LoadSecond(t, 10, {"GET /": both}, profiles={"legacy": {"GET /": legacy}, "modern": {"GET /": modern}},
                          conns={"legacy": ConnStats(requests=15, connects=0, tls_errors=15),
                                 "modern": ConnStats(requests=85, connects=2)})

    secs = [second(t) for t in range(10)]
    windows = build_windows(10, [])
    legacy = judge(Check(name="l", metric="error_rate", profile="legacy", max=0.01), secs, windows)
    modern = judge(Check(name="m", metric="error_rate", profile="modern", max=0.01), secs, windows)
    overall = judge(Check(name="all", metric="error_rate", max=0.01), secs, windows)
    assert not legacy.passed and legacy.value == 1.0
    assert modern.passed and modern.value == 0.0
    assert overall.value == 0.15
    tls = judge(Check(name="tls", metric="tls_errors", profile="legacy", max=0), secs, windows)
    assert not tls.passed and tls.value == 150
