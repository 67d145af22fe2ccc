"""What the audit of a real run found wrong in windows and verdicts, each pinned on data with known answers."""

from __future__ import annotations

import pytest

from faultdrill.analysis.checks import judge, judge_all
from faultdrill.analysis.detection import detect, detect_all
from faultdrill.analysis.live import AbortMonitor
from faultdrill.analysis.series import series_for
from faultdrill.analysis.summary import window_stats
from faultdrill.analysis.windows import FaultInterval, build_windows, steady_spans
from faultdrill.histograms import LoadSecond, OpenStats, RequestStats
from faultdrill.load.shape import spike
from faultdrill.report.summary import build_summary
from faultdrill.scenario import parse_scenario
from faultdrill.scenario.check_model import Abort, Check


def second(t: int, ok_ms: float, n_ok: int, fail_ms: float = 0.0, n_fail: int = 0, name: str = "GET /ok",
           users: int = 10, open_: OpenStats | None = None) -> LoadSecond:
    stats = RequestStats()
    for _ in range(n_ok):
        stats.record(ok_ms)
    for _ in range(n_fail):
        stats.record(fail_ms, "HTTP 503")
    return LoadSecond(t, users, {name: stats}, open=open_)


# --------------------------------------------------------------------------- 3: failures are not fast answers
def test_fast_failures_do_not_make_the_fault_window_look_faster_than_the_baseline() -> None:
    # baseline: 100 successes a second at 380 ms; fault: 25 successes at 900 ms + 75 fast 503s at 3 ms
    seconds = [second(t, 380.0, 100) for t in range(10)] + [second(t, 900.0, 25, 3.0, 75) for t in range(10, 20)]
    windows = build_windows(20, [FaultInterval("slow", 10.0, None)])
    base, fault = window_stats(seconds, windows["baseline"]), window_stats(seconds, windows["slow"])
    assert fault.all_p50_ms < 4 < base.all_p50_ms  # all requests: the outage "looks faster"
    assert fault.p50_ms > 890 and base.p50_ms < 390  # successful requests: it is slower, as users saw
    check = Check(name="fast", metric="p50_ms", window="slow", max=500)
    plain = judge(check, seconds, windows)
    assert not plain.passed and plain.latency_of == "successful"
    assert plain.reason.startswith("p50_ms (successful requests) = ")
    everything = judge(check.model_copy(update={"latency_of": "all"}), seconds, windows)
    assert everything.passed and everything.value < 4 and everything.latency_of == "all"


def test_all_requests_failing_is_no_data_for_successful_latency_not_a_fast_window() -> None:
    seconds = [second(t, 0.0, 0, 2.0, 50) for t in range(5)]
    result = judge(Check(name="fast", metric="p95_ms", max=100), seconds, build_windows(5, []))
    assert not result.passed and result.value is None and "no data" in result.reason


# --------------------------------------------------------------------------- 5: the baseline is steady load
def test_baseline_leaves_out_the_ramp_to_the_peak_and_reports_it_apart() -> None:
    segments = spike(baseline=20, peak=150, at=20, rise=10, hold=70, decay=10, end=120)
    steady = steady_spans(segments, 120, "closed")
    windows = build_windows(120, [FaultInterval("slow mail", 35.0, 60.0)], steady)
    # 0-1 s: users spawning, 1-2 s: their first requests completing; 30-31 s: the rise's last sends
    assert windows["baseline"].spans == ((2.0, 20.0), (31.0, 35.0))
    assert windows["ramp"].spans == ((0.0, 2.0), (20.0, 31.0))
    seconds = [second(t, 430.0 if 20 <= t < 30 else 11.0, 50) for t in range(35)]
    assert window_stats(seconds, windows["baseline"]).p95_ms < 12
    assert window_stats(seconds, windows["ramp"]).p95_ms > 400


def test_a_spawn_rate_delays_the_steady_state() -> None:
    from faultdrill.load.shape import Segment

    assert steady_spans([Segment(60, 100, spawn_rate=10)], 60, "closed") == [(11.0, 60.0)]
    assert steady_spans([Segment(60, 100, spawn_rate=10)], 60, "open") == [(2.0, 60.0)]
    assert steady_spans([Segment(30, 100), Segment(60, 100)], 60, "open") == [(2.0, 60.0)]


# --------------------------------------------------------------------------- 8: faults that did not end
SCENARIO = """
name: verdicts
stack: {services: {web: {image: x, ports: [8000]}}}
load: {journeys: "builtin:smoke", host: "http://127.0.0.1:1", shape: [{until: 120s, users: 10}]}
faults:
  - {name: slow mail, at: 35s, for: 25s, exec: {service: web, command: [x]}}
  - {name: mail times out, at: 60s, for: 30s, exec: {service: web, command: [x]}}
  - {name: add an instance, at: 65s, exec: {service: web, command: [x]}}
checks:
  - {name: errors rare, metric: error_rate, window: run, max: 0.05, sustained: 5s}
  - {name: recovers, metric: error_rate, window: recovery, max: 0.01}
  - {name: the toxic shows, metric: p50_ms, window: slow mail, min: 300}
"""


def events() -> list[dict]:
    return [{"t": 0.0, "kind": "run.start"},
            {"t": 35.0, "kind": "fault.start", "fault": "slow mail"},
            {"t": 60.0, "kind": "fault.stop", "fault": "slow mail", "reason": "scheduled"},
            {"t": 60.0, "kind": "fault.start", "fault": "mail times out"},
            {"t": 65.0, "kind": "fault.start", "fault": "add an instance"},
            {"t": 90.0, "kind": "fault.stop", "fault": "mail times out", "reason": "scheduled"},
            {"t": 120.903, "kind": "fault.stop", "fault": "add an instance", "reason": "drill ended"},
            {"t": 120.904, "kind": "run.end"}]


def incident_seconds() -> list[LoadSecond]:
    # slow (400 ms) from 35 s; failing (50 %) from 45 s until 94 s; fine after
    out = []
    for t in range(121):
        if t < 35:
            out.append(second(t, 10.0, 40))
        elif t < 45:
            out.append(second(t, 400.0, 40))
        elif t < 94:
            out.append(second(t, 400.0, 20, 5.0, 20))
        else:
            out.append(second(t, 10.0, 40))
    return out


def summary() -> dict:
    scenario = parse_scenario(SCENARIO, "verdicts.yaml")
    return build_summary(scenario, "r1", incident_seconds(), events(), "completed").summary


def test_recovery_follows_the_last_healed_fault_and_an_open_ended_fault_did_not_end() -> None:
    s = summary()
    recovery = s["windows"]["recovery"]
    assert (recovery["start"], recovery["end"]) == (90.0, 120.904) and recovery["seconds"] == 31
    assert "'add an instance' was still on" in recovery["note"]
    faults = {f["name"]: f for f in s["faults"]}
    assert faults["add an instance"]["healed"] is False and faults["slow mail"]["healed"] is True
    assert s["windows"]["add an instance"]["note"] == "did not end"
    rows = [d for d in s["detection"] if d["fault"] == "add an instance"]
    assert rows and all(d["note"] != "never_recovered" for d in rows)


def test_detection_rows_pair_slos_with_faults_and_expectations_with_their_own_fault() -> None:
    s = summary()
    rows = {(d["check"], d["fault"]): d for d in s["detection"]}
    shows = rows[("the toxic shows", "slow mail")]
    assert shows["role"] == "expectation" and shows["note"] == "shown" and shows["time_to_detect_s"] == 1  # bin 35 ends
    assert not [k for k in rows if k[0] == "the toxic shows" and k[1] != "slow mail"]  # no "never recovered" noise
    slo = rows[("errors rare", "slow mail")]
    assert slo["detected_at"] == 50 and slo["time_to_detect_s"] == 15  # failing from 45 s, sustained 5 s
    assert slo["recovered_after"] == "mail times out" and slo["time_to_recover_s"] == 4  # 94 s - its heal at 90
    assert set(slo["overlaps"]) == {"mail times out", "add an instance"}
    later = rows[("errors rare", "mail times out")]
    assert later["note"] == "already_breached" and later["time_to_detect_s"] is None


# --------------------------------------------------------------------------- 10: instants are not 1 s bins
def test_a_sampled_series_is_detected_at_the_sample_not_a_second_later() -> None:
    faults = [FaultInterval("pile-up", 10.0, 20.0)]
    samples = {"resources.app.pids": [(t / 2, 130.0 if t / 2 >= 12.5 else 40.0) for t in range(60)]}
    check = Check(name="threads", metric="resources.app.pids", max=100)
    d = detect(check, faults[0], [], 30, samples, faults=faults, interval=0.5)
    assert d.detected_at == 12.5 and d.time_to_detect_s == 2.5
    sustained = Check(name="threads", metric="resources.app.pids", max=100, sustained=2)
    d2 = detect(sustained, faults[0], [], 30, samples, faults=faults, interval=0.5)
    assert d2.detected_at == 14.5  # samples 12.5 … 14.5 are bad: 2 s of breach


def test_the_live_monitor_uses_the_recorder_interval() -> None:
    monitor = AbortMonitor.from_scenario([Abort(name="threads", metric="resources.app.pids", max=100, sustained=1)],
                                         [], interval=0.2)
    fired = None
    for i in range(20):
        t = round(i * 0.2, 1)
        fired = fired or monitor.observe_sample("resources.app.pids", t, 150.0 if t >= 1.0 else 50.0)
    assert fired is not None and fired.since == 1.0 and fired.at == 2.0  # not split by "gaps" of 0.2 s


# --------------------------------------------------------------------------- 12: dropped arrivals are visible
def open_second(t: int, sent_ok: int, dropped: int) -> LoadSecond:
    return second(t, 20.0, sent_ok, open_=OpenStats(intended=sent_ok + dropped, sent=sent_ok, dropped=dropped,
                                                    late=0, lag_ms=3.0))


def test_mostly_dropped_arrivals_fail_the_error_rate_and_are_checkable() -> None:
    seconds = [open_second(t, 5, 95) for t in range(10)]  # 95 % of arrivals never sent; the rest fine
    windows = build_windows(10, [])
    stats = window_stats(seconds, windows["run"])
    assert stats.dropped == 950 and stats.intended == 1000 and stats.error_rate == 0.95
    assert stats.errors["dropped: arrival never sent (max_in_flight reached)"] == 950
    assert not judge(Check(name="errors", metric="error_rate", max=0.01), seconds, windows).passed
    dropped = judge(Check(name="no drops", metric="dropped", max=0), seconds, windows)
    assert not dropped.passed and dropped.value == 950
    assert series_for("dropped", None, seconds)[0] == (0.0, 95.0)


def test_open_metrics_on_a_closed_run_are_misconfigured() -> None:
    result = judge(Check(name="d", metric="dropped", max=0), [second(0, 5.0, 10)], build_windows(1, []))
    assert result.outcome == "misconfigured" and "open model" in result.reason


# --------------------------------------------------------------------------- 20: names as the locustfile wrote them
def test_a_request_named_as_in_the_locustfile_matches_and_a_missing_one_is_misconfigured() -> None:
    seconds = [LoadSecond(t, 5, {**second(t, 5.0, 10, name="GET /ok").requests,
                                 **second(t, 5.0, 0, 2.0, 10, name="GET /fail").requests}) for t in range(40)]
    windows = build_windows(40, [FaultInterval("f", 10.0, 20.0)])
    ok = judge(Check(name="ok", metric="error_rate", request="/ok", max=0.01), seconds, windows)
    assert ok.passed and ok.value == 0
    typo = Check(name="typo", metric="error_rate", request="/okay", max=0.01, sustained=5)
    result = judge(typo, seconds, windows)
    assert result.outcome == "misconfigured" and not result.passed
    assert result.reason.startswith("no request '/okay' in this run; recorded: ") and "GET /ok" in result.reason
    assert "breached" not in result.reason
    rows = detect_all([typo], [FaultInterval("f", 10.0, 20.0)], seconds, 40, skip=["typo"])
    assert rows == []


def test_a_series_that_was_never_recorded_is_named_with_what_was() -> None:
    samples = {"resources.app.pids": [(0.0, 10.0)], "resources.db.pids": [(0.0, 5.0)]}
    results = judge_all([Check(name="t", metric="resources.ap.pids", max=100)], [], build_windows(1, []), samples)
    assert results[0].outcome == "misconfigured"
    assert "no series 'resources.ap.pids' was recorded; recorded: resources.app.pids" in results[0].reason


# --------------------------------------------------------------------------- 13: an error after the verdict
@pytest.mark.usefixtures("no_drawing")  # the verdict, not the drawing
def test_a_report_that_cannot_be_written_fails_the_run_instead_of_exiting_0(tmp_path, monkeypatch) -> None:
    import faultdrill.drill as drill
    from faultdrill.report.sample import write_sample_run

    run_dir, scenario = write_sample_run(tmp_path / "run", samples=False,
                                         checks="  - {name: loose, metric: error_rate, window: run, max: 1}\n")
    report, code, error = drill.finish(run_dir, scenario, "completed", 0, None, problems := [])
    assert code == 0 and report is not None and report.passed  # the same run, rendered fine: passes

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(drill, "render", broken)
    report, code, error = drill.finish(run_dir, scenario, "completed", 0, None, problems)
    assert report is None and code == 3
    assert "the report could not be written: OSError" in error and "verdict is unknown" in error
    assert problems and (run_dir.path / "crash.log").is_file()
    _, code, _ = drill.finish(run_dir, scenario, "interrupted", 130, "interrupted (SIGINT)", [])
    assert code == 130  # an interrupted run keeps its own code


def test_a_heal_inside_the_first_good_second_is_the_one_that_ended_the_breach() -> None:
    # a: 10-20.03 s (slow, no errors); b: 20.03-28.05 s (every request fails); good again from second 28
    seconds = [second(t, 10.0, 20) if not 20 <= t < 28 else second(t, 0.0, 0, 3.0, 20) for t in range(40)]
    faults = [FaultInterval("a", 10.0, 20.03), FaultInterval("b", 20.03, 28.05)]
    check = Check(name="errors", metric="error_rate", max=0.05, sustained=3)
    row = detect(check, faults[1], seconds, 40, faults=faults)
    assert row.recovered_at == 28 and row.recovered_after == "b" and row.time_to_recover_s == 0
    assert detect(check, faults[0], seconds, 40, faults=faults).note == "held"  # second 20 is b's (midpoint)
