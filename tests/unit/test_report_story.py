"""The story figure: the four golden signals of a run on one time axis, from synthetic run data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from faultdrill.histograms import LoadSecond, OpenStats, RequestStats
from faultdrill.report.chart_model import with_gaps
from faultdrill.report.data import ConnectionRow, MetricRow, ResourceRow, RunData
from faultdrill.report.figure_png import write_figure_png
from faultdrill.report.saturation import NORMAL_HIGH_PCT, NORMAL_LOW_PCT, PLAN_PCT
from faultdrill.report.story import golden_charts, story_figure
from faultdrill.report.summary import Report


def second(t: int, ok: int, failed: int = 0, ms: float = 20.0, dropped: int | None = None,
           users: int = 5) -> LoadSecond:
    stats = RequestStats()
    for _ in range(ok):
        stats.record(ms)
    for _ in range(failed):
        stats.record(1.0, "HTTP 503")
    opened = None if dropped is None else OpenStats(intended=ok + failed + dropped, sent=ok + failed, dropped=dropped)
    return LoadSecond(t, users, {"GET /": stats}, open=opened)


def by_key(data: RunData) -> dict:
    return {c.key: c for c in golden_charts(data)}


def lines(chart) -> dict[str, dict[float, float | None]]:
    return {ln.label: dict(ln.points) for ln in chart.lines}


def test_open_model_traffic_shows_arrivals_due_and_dropped_and_counts_drops_as_errors() -> None:
    charts = by_key(RunData("r", seconds=[second(0, 10, dropped=0), second(1, 6, dropped=4)]))
    traffic = lines(charts["story-traffic"])
    assert traffic["arrivals due /s"] == {0.5: 10, 1.5: 10} and traffic["dropped /s"] == {0.5: 0, 1.5: 4}
    assert "users" not in traffic and charts["story-traffic"].right_unit is None
    errors = dict(charts["story-errors"].lines[0].points)
    assert errors == {0.5: 0.0, 1.5: 40.0}  # 4 dropped of 10 attempts


def test_closed_model_traffic_has_requests_and_users_on_the_right_axis() -> None:
    charts = by_key(RunData("r", seconds=[second(0, 10, users=3), second(1, 8, 2, users=4)]))
    traffic = charts["story-traffic"]
    assert lines(traffic)["requests /s"] == {0.5: 10, 1.5: 10}
    users = next(ln for ln in traffic.lines if ln.label == "users")
    assert users.axis == "right" and traffic.right_unit == "users" and dict(users.points) == {0.5: 3, 1.5: 4}
    assert lines(charts["story-errors"])["failed % of attempts"] == {0.5: 0.0, 1.5: 20.0}


def test_a_missing_second_is_a_gap_and_a_second_without_success_has_no_latency() -> None:
    seconds = [second(0, 10), second(1, 0, 5), second(2, 10), second(5, 10)]  # 3 and 4 never recorded
    latency = lines(by_key(RunData("r", seconds=seconds))["story-latency"])
    ok = latency["p95 successful"]
    assert ok[1.5] is None, "every request failed: no successful latency, not 0"
    assert latency["p95 all requests"][1.5] is not None
    gap = [t for t, v in ok.items() if 2.5 < t < 5.5]
    assert gap and all(ok[t] is None for t in gap), "the unrecorded seconds are a gap, not a line across them"
    assert 0 not in [v for v in ok.values()]


def test_with_gaps_breaks_the_line_only_where_points_are_missing() -> None:
    assert with_gaps([(0, 1.0), (1, 2.0), (2, 3.0)]) == ((0, 1.0), (1, 2.0), (2, 3.0))
    assert with_gaps([(0, 1.0), (4, 2.0)]) == ((0, 1.0), (2.0, None), (4, 2.0))


def resources(t: float, pids: float, cpu: float | None) -> list[ResourceRow]:
    return [ResourceRow(t, "app", cpu, 100.0, 400.0, pids, 128.0, 0, 0, cpu_limit=0.5),
            ResourceRow(t, "db", 10.0, None, None, 5, None, 0, 0, host_cpus=2.0)]


def test_saturation_is_percent_of_each_limit_with_the_seeds_capacity_guides() -> None:
    rows = resources(0, 32, 25.0) + resources(1, 128, None) + resources(2, 64, 50.0)
    chart = by_key(RunData("r", resources=rows))["story-saturation"]
    sat = lines(chart)
    assert sat["app threads/pids % of limit"] == {0: 25.0, 1: 100.0, 2: 50.0}
    app_cpu = sat["app CPU % of its 0.5-CPU limit"]
    assert app_cpu == {0: 50.0, 1: None, 2: 100.0}, "25 % of one core is 50 % of a half-CPU limit; stale = gap"
    assert sat["db CPU % of the host's 2 CPUs"][0] == 5.0
    assert sat["app memory % of limit"][0] == 25.0
    guides = {(g.value, g.to) for g in chart.guides}
    assert guides == {(NORMAL_LOW_PCT, NORMAL_HIGH_PCT), (PLAN_PCT, None)}
    assert chart.unit == "% of limit"


def test_connections_use_the_apps_reported_limit_else_the_right_axis() -> None:
    conns = [ConnectionRow(t, svc, "inbound", ":8000", "ESTABLISHED", n)
             for t in (0.0, 1.0) for svc, n in (("app", 8 + 8 * t), ("ingress", 30.0))]
    limit = [MetricRow(t, "app", "ticketing_workers_limit", "", 16.0) for t in (0.0, 1.0)]
    chart = by_key(RunData("r", connections=conns, app_metrics=limit,
                           resources=resources(0, 10, 5.0) + resources(1, 10, 5.0)))["story-saturation"]
    sat = lines(chart)
    assert sat["app connections % of its limit"] == {0.0: 50.0, 1.0: 100.0}
    ingress = next(ln for ln in chart.lines if ln.label.startswith("ingress connections"))
    assert ingress.axis == "right" and chart.right_unit == "connections" and "limit unknown" in ingress.label


def test_markers_sit_where_checks_breached_and_recovered_and_where_people_annotated() -> None:
    summary = {"duration_s": 60, "faults": [{"name": "mail down", "start": 20.0, "end": 40.0}],
               "detection": [{"fault": "mail down", "check": "p95 ok", "role": "slo", "detected_at": 26.0,
                              "time_to_detect_s": 6.0, "recovered_at": 47.0, "time_to_recover_s": 7.0,
                              "recovered_after": "mail down"},
                             {"fault": "mail down", "check": "held", "role": "slo", "detected_at": None,
                              "recovered_at": None}],
               "aborted": None}
    events = [{"t": 30.0, "kind": "annotation", "annotation": "mitigate", "text": "skip mail"}]
    figure = story_figure(RunData("r", seconds=[second(t, 10) for t in range(60)], events=events), summary, "t")
    got = [(m.t, m.kind) for m in figure.markers]
    assert got == [(26.0, "detect"), (30.0, "annotation"), (47.0, "recover")]
    assert "6 s after mail down began" in figure.markers[0].label
    assert "7 s after mail down healed" in figure.markers[2].label and "skip mail" in figure.markers[1].label
    assert [(b.start, b.end, b.label) for b in figure.bands] == [(20.0, 40.0, "mail down")]
    assert [c.key for c in figure.charts] == ["story-latency", "story-traffic", "story-errors"]


def test_the_story_png_is_drawn_from_the_same_model(tmp_path: Path) -> None:
    figure = story_figure(RunData("r", seconds=[second(t, 10, ms=5 if t < 30 else 900) for t in range(40)]),
                          {"duration_s": 40, "faults": [{"name": "f", "start": 30.0, "end": 40.0}]}, "story")
    assert figure.charts[0].log, "900 ms over a 5 ms baseline: a log axis keeps both readable"
    image = plt.imread(write_figure_png(figure, tmp_path / "story.png"))
    assert image.shape[1] > 1000 and image.shape[0] > 600


def test_every_report_draws_story_png_and_summary_md_opens_with_it(full_run: tuple[Path, Report]) -> None:
    path, report = full_run
    assert report.problems == [] and report.files["story"] == path / "story.png"
    assert (path / "story.png").read_bytes().startswith(b"\x89PNG")
    md = (path / "summary.md").read_text(encoding="utf-8").splitlines()
    assert md[4].startswith("![What happened") and md[4].endswith("(story.png)")


def test_compare_overlays_both_runs_line_for_line_in_two_colours_with_one_set_of_fault_bands() -> None:
    from faultdrill.report.compare_story import RUN_SHADES, compare_figure

    faults = [{"name": "mail down", "start": 10.0, "end": 20.0}]
    incident = {"duration_s": 30, "faults": faults, "detection": [
        {"fault": "mail down", "check": "p95", "detected_at": 14.0, "time_to_detect_s": 4.0}]}
    fixed = {"duration_s": 30, "faults": [dict(faults[0], start=10.2, end=20.1)], "detection": []}
    data_a = RunData("a", seconds=[second(t, 10, 5, ms=900 if 10 <= t < 20 else 5) for t in range(30)])
    data_b = RunData("b", seconds=[second(t, 10, ms=6) for t in range(30)])
    figure = compare_figure(data_a, incident, data_b, fixed, "incident vs fix")
    latency = {c.key: c for c in figure.charts}["story-latency"]
    labels = [ln.label for ln in latency.lines]
    assert labels == ["A: p95 successful", "A: p95 all requests", "B: p95 successful", "B: p95 all requests"]
    assert {ln.colour for ln in latency.lines if ln.group == "A"} <= set(RUN_SHADES["A"])
    assert {ln.colour for ln in latency.lines if ln.group == "B"} <= set(RUN_SHADES["B"])
    assert latency.log, "900 ms vs 6 ms: both readable on a log axis"
    assert [b.label for b in figure.bands] == ["mail down"], "the same faults at the same times: one set of bands"
    assert [m.label.split(":")[0] for m in figure.markers] == ["A"]
    errors = {c.key: c for c in figure.charts}["story-errors"]
    assert [max(ln.values()) for ln in errors.lines] == [100 * 5 / 15, 0.0]


def test_compare_names_the_run_of_a_fault_only_one_run_had() -> None:
    from faultdrill.report.chart_model import Band
    from faultdrill.report.compare_story import merged_bands

    a = [Band(10, 20, "mail down", "#d62728")]
    b = [Band(10.5, 20.4, "mail down", "#d62728"), Band(100, 110, "send the recovery mails", "#ff7f0e")]
    assert [x.label for x in merged_bands(a, b)] == ["mail down", "B: send the recovery mails"]
    assert [x.label for x in merged_bands(a, [Band(30, 40, "mail down", "#d62728")])] == ["A: mail down",
                                                                                           "B: mail down"]


def test_markers_close_in_time_share_one_badge() -> None:
    from faultdrill.report.chart_model import Marker, marker_clusters

    marks = [Marker(t, "x", "detect", "#d62728") for t in (10.0, 10.5, 11.0, 30.0)]
    assert marker_clusters(marks, 1.0) == [(1, 10.0, "1+"), (4, 30.0, "4")]


def test_the_pages_chart_data_keeps_gaps_as_null_and_cannot_end_its_script_tag() -> None:
    import json

    from faultdrill.report.chart_model import Chart, Figure, Line
    from faultdrill.report.interactive import charts_payload, inline_assets

    line = Line("</script><b>x", ((0.5, 1.23456789), (1.5, None), (2.5, 0.0)), "#000000")
    html = str(charts_payload([Figure("story", "t", (Chart("c", "c", "ms", (line,)),), 3.0)]))
    body = html.split(">", 1)[1].rsplit("</script>", 1)[0]
    assert "</" not in body, "a label cannot close the data's script tag"
    data = json.loads(body.replace("<\\/", "</"))
    drawn = data["figures"][0]["charts"][0]["lines"][0]
    assert drawn["ys"] == [1.2346, None, 0] and drawn["xs"] == [0.5, 1.5, 2.5] and drawn["label"].startswith("</")
    assets = str(inline_assets())
    assert "uPlot" in assets and "src=" not in assets and "@import" not in assets, "everything inline"


def test_detail_charts_are_grouped_by_what_to_watch_and_keep_sampler_gaps(tmp_path: Path) -> None:
    from faultdrill.report.data import load_run_data
    from faultdrill.report.detail_charts import detail_charts
    from faultdrill.report.sample import write_sample_run

    run_dir, _ = write_sample_run(tmp_path / "run")
    data = load_run_data(run_dir)
    data.resources = [r for r in data.resources if not (r.service == "app" and 30 <= r.t < 33)]  # a stale stretch
    sections = {k: [c.key for c in v] for k, v in detail_charts(data).items()}
    assert list(sections) == ["saturation", "latency", "errors"]
    assert {"load", "connections", "cpu", "memory", "pids", "db-db"} <= set(sections["saturation"])
    assert sections["latency"][:2] == ["latency", "latency-by-request"] and "db-db-longest-tx" in sections["latency"]
    assert sections["errors"][:2] == ["errors", "profiles"]
    cpu = next(c for c in detail_charts(data)["saturation"] if c.key == "cpu")
    app = dict(next(ln for ln in cpu.lines if ln.label == "app").points)
    assert any(v is None and 29 < t < 33 for t, v in app.items()), "three missing samples are a gap"
    assert all(v is not None for t, v in app.items() if t < 29 or t > 33)


def test_traffic_shows_what_the_ingress_read_beside_what_the_clients_sent() -> None:
    from faultdrill.report.data import IngressRow

    ingress = [IngressRow(float(t), "ingress", 10.0 * t, 10.0 * t, 12.0 * t) for t in range(4)]
    charts = by_key(RunData("r", seconds=[second(t, 10) for t in range(4)], ingress=ingress))
    read = lines(charts["story-traffic"])["ingress requests read /s"]
    assert read == {0.5: 12.0, 1.5: 12.0, 2.5: 12.0}, "the rate over (t-1, t] sits on the clients' second"
    assert "ingress requests read /s" not in lines(by_key(RunData("r", seconds=[second(0, 10)]))["story-traffic"])


def test_the_apps_own_bound_is_shown_as_percent_of_it() -> None:
    rows = [MetricRow(t, "app", name, "", value) for t in (0.0, 1.0, 2.0)
            for name, value in (("ticketing_request_threads_max", 8.0), ("ticketing_request_threads_busy", 2 + 3 * t),
                                ("ticketing_throttle_limit", 8.0), ("ticketing_throttle_busy", 1.0))]
    sat = lines(by_key(RunData("r", app_metrics=rows))["story-saturation"])
    assert sat == {"app ticketing_request_threads_busy % of its limit": {0.0: 25.0, 1.0: 62.5, 2.0: 100.0}}


def test_lock_waits_climb_beside_what_they_saturate() -> None:
    from faultdrill.report.data import DbRow

    db = [DbRow(float(t), "db", (("sessions_active", 3.0), ("sessions_waiting_lock", float(w))))
          for t, w in enumerate((0, 0, 4, 9))]
    chart = by_key(RunData("r", db=db, resources=resources(0, 10, 5.0)))["story-saturation"]
    waits = next(ln for ln in chart.lines if ln.label.startswith("db sessions waiting on a lock"))
    assert dict(waits.points) == {0.0: 0.0, 1.0: 0.0, 2.0: 4.0, 3.0: 9.0}
    assert waits.axis == "right" and chart.right_unit == "sessions"
    quiet = [DbRow(float(t), "db", (("sessions_waiting_lock", 0.0),)) for t in range(3)]
    assert not any("lock" in ln.label for ln in by_key(RunData("r", db=quiet, resources=resources(0, 10, 5.0)))
                   ["story-saturation"].lines), "no contention: no line"


def test_the_load_generators_own_cpu_shows_when_the_generator_was_the_limit() -> None:
    from dataclasses import replace

    from faultdrill.report.saturation import GENERATOR_CPU_LABEL

    seconds = [replace(second(0, 10), cpu_pct=35.0), replace(second(1, 10), cpu_pct=98.0), second(2, 10),
               replace(second(3, 10), cpu_pct=40.0)]
    sat = lines(by_key(RunData("r", seconds=seconds))["story-saturation"])
    assert sat[GENERATOR_CPU_LABEL] == {0.5: 35.0, 1.5: 98.0, 2.5: None, 3.5: 40.0}  # unmeasured: a gap, not 0
    unmeasured = by_key(RunData("r", seconds=[second(0, 10)])).get("story-saturation")
    assert unmeasured is None or GENERATOR_CPU_LABEL not in lines(unmeasured)  # never a made-up line
