"""The report a person reads, from synthetic run directories with known numbers: summary.json,
summary.md, junit.xml, the plots and report.html."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from faultdrill.errors import UsageError
from faultdrill.report.data import load_run_data, parse_app_metrics, parse_connections, parse_profiles
from faultdrill.report.drawing import LEFT, RIGHT, counter_rates, finish_axes, write_panels
from faultdrill.report.plots import app_metric_series, build_panels
from faultdrill.report.sample import SampleShape, write_sample_run
from faultdrill.report.summary import SCHEMA, Report, render, render_all, render_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_SRC = re.compile(r'<img [^>]*src="([^"]*)"')


def junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    for attr in ("name", "tests", "failures", "errors", "skipped", "time"):
        assert attr in suite.attrib, attr
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
    assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
    for case in cases:
        assert {"classname", "name", "time"} <= set(case.attrib)
        float(case.get("time"))
        for child in case:
            assert child.tag in ("failure", "error", "skipped", "system-out", "system-err")
            assert child.get("message")
    return suite


# --------------------------------------------------------------------------- summary.json and the drill's API
def test_render_keeps_the_drills_api_and_writes_the_summary(tmp_path: Path, draw_only: Callable[..., None]) -> None:
    draw_only("latency")
    run_dir, scenario = write_sample_run(tmp_path / "run", samples=False)
    report = render(run_dir, scenario, "completed")
    assert isinstance(report, Report) and report.passed is False
    assert [c.name for c in report.checks] == ["baseline is fast", "errors stay low"]
    summary = json.loads(run_dir.summary_json.read_text())
    assert summary == json.loads(json.dumps(report.summary))
    assert summary["schema"] == SCHEMA and summary["verdict"] == "failed" and summary["passed"] is False
    assert summary["windows"]["slow db"]["error_rate"] == 0.5  # the legacy-tls half fails during the fault
    (fault,) = summary["faults"]
    assert fault["planned_start"] == 20 and fault["planned_end"] == 40
    assert fault["start"] == pytest.approx(20.01) and fault["stop_reason"] == "scheduled"
    assert run_dir.latency_png.stat().st_size > 0


def test_every_output_exists_and_the_html_is_self_contained(full_run: tuple[Path, Report]) -> None:
    path, report = full_run
    for name in ("summary.json", "summary.md", "junit.xml", "report.html", "latency.png", "dashboard.png",
                 "throughput.png", "errors.png", "users.png", "profiles.png", "connections.png", "cpu.png",
                 "memory.png", "pids.png", "app-app.png", "db-db.png", "db-db-rates.png"):
        data = (path / name).read_bytes()
        assert data, name
        if name.endswith(".png"):
            assert data.startswith(PNG_MAGIC), name
    assert report.problems == [] and report.skipped_panels == []
    html = (path / "report.html").read_text()
    for title in ("faultdrill report: sample", "Checks", "Windows", "Faults", "Provenance", "Plots",
                  "Latency of successful requests", "TCP connections per service", "Database db: sessions by state",
                  "App metrics: app", "Success rate by client profile"):
        assert title in html, title
    assert "FAILED — 1 of 2 checks failed" in html
    assert "ab" * 32 in html and "0123456789abcdef" in html and "builtin" in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not fetch anything"
    sources = IMG_SRC.findall(html)
    panels = [k for k in report.files if k.startswith("plot:") and k != "plot:dashboard"]
    assert len(sources) == len(panels) == 14  # every panel once; the dashboard is a file of its own
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_failing_check_shows_its_cross_and_reason_in_markdown(full_run: tuple[Path, Report]) -> None:
    md = (full_run[0] / "summary.md").read_text()
    assert md.startswith("## ❌ faultdrill · sample — FAILED — 1 of 2 checks failed")
    failing = next(line for line in md.splitlines() if "errors stay low" in line)
    assert failing.startswith("| ❌ |") and "16.7 %" in failing and "0.16667" in failing  # value and the reason
    passing = next(line for line in md.splitlines() if "baseline is fast" in line)
    assert passing.startswith("| ✅ |")
    assert "| slow db | 20.0–40.0 s | 800 | 50.0 % |" in md
    assert "| slow db | 20.0 s → 40.0 s | 20.0 s → 40.0 s | scheduled |" in md
    assert "http" not in md and md.count("](") == 1 and "](story.png)" in md  # one link: the story beside it


def test_failing_check_is_a_junit_failure_with_its_reason(full_run: tuple[Path, Report]) -> None:
    suite = junit(full_run[0] / "junit.xml")
    assert suite.get("name") == "faultdrill.sample"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"baseline is fast", "errors stay low"}
    assert all(c.get("classname") == "sample" and float(c.get("time")) == 0 for c in cases.values())
    assert cases["baseline is fast"].find("failure") is None
    failure = cases["errors stay low"].find("failure")
    assert failure is not None and "error_rate" in failure.get("message") and "0.01" in failure.get("message")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"


@pytest.mark.parametrize("status, tag", [("interrupted", "failure"), ("failed", "error")])
def test_a_run_that_did_not_complete_has_a_failing_junit_case(tmp_path: Path, status: str, tag: str) -> None:
    run_dir, scenario = write_sample_run(tmp_path / "run", status=status, stop_at=25, samples=False)
    report = render_all(run_dir, scenario, status, plots=False)
    assert report.checks == [] and report.summary["verdict"] == "incomplete"
    suite = junit(run_dir.path / "junit.xml")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    bad = cases["drill completed"].find(tag)
    assert bad is not None and "did not complete" in bad.get("message")
    assert ("SIGINT" if status == "interrupted" else "unhealthy") in bad.get("message")
    assert cases["errors stay low"].find("skipped") is not None  # the checks are listed, not judged
    md = (run_dir.path / "summary.md").read_text()
    assert f"{status.upper()} — the run did not complete" in md and "Checks not judged" in md
    assert report.summary["duration_s"] == 25 and report.summary["faults"][0]["end"] == 25  # cut short


def test_a_passing_run_has_no_junit_failures(tmp_path: Path) -> None:
    checks = "  - {name: fast enough, metric: p95_ms, window: baseline, max: 50}\n"
    run_dir, scenario = write_sample_run(tmp_path / "run", checks=checks, samples=False)
    report = render_all(run_dir, scenario, "completed", plots=False)
    assert report.passed and report.summary["verdict"] == "passed"
    suite = junit(run_dir.path / "junit.xml")
    assert suite.get("failures") == "0" and suite.get("tests") == "1"
    assert (run_dir.path / "summary.md").read_text().startswith("## ✅")


def test_a_fault_that_never_started_is_listed_as_such(tmp_path: Path) -> None:
    run_dir, scenario = write_sample_run(tmp_path / "run", status="interrupted", stop_at=10, samples=False)
    summary = render_all(run_dir, scenario, "interrupted", plots=False).summary
    assert summary["faults"] == [] and summary["faults_not_started"][0]["name"] == "slow db"
    assert "| slow db | 20.0 s → 40.0 s | never started |" in (run_dir.path / "summary.md").read_text()


# --------------------------------------------------------------------------- panels
def test_missing_connections_csv_skips_that_panel_and_says_why(tmp_path: Path, draw_only: Callable[..., None]) -> None:
    draw_only("latency", "cpu")
    run_dir, scenario = write_sample_run(tmp_path / "run")
    (run_dir.path / "connections.csv").unlink()
    (run_dir.path / "db.csv").write_text("t,wall,service,sessions_active\n")  # header only: recorded nothing
    report = render_all(run_dir, scenario, "completed")
    assert report.problems == []
    assert not (run_dir.path / "connections.png").exists() and not (run_dir.path / "db-db.png").exists()
    assert (run_dir.path / "cpu.png").exists() and (run_dir.path / "latency.png").exists()
    assert "connections: connections.csv was not recorded" in report.skipped_panels
    assert "db: db.csv has no samples" in report.skipped_panels
    assert "connections.csv was not recorded" in (run_dir.path / "report.html").read_text()


def test_a_run_without_load_or_samples_still_gets_a_report(tmp_path: Path) -> None:
    run_dir, scenario = write_sample_run(tmp_path / "run", status="failed", stop_at=0, samples=False)
    report = render_all(run_dir, scenario, "failed")
    assert report.problems == [] and not (run_dir.path / "latency.png").exists()
    html = (run_dir.path / "report.html").read_text()
    assert "the run did not complete" in html and "service app became unhealthy" in html


def test_every_panel_shares_the_runs_time_axis(tmp_path: Path) -> None:
    run_dir, _ = write_sample_run(tmp_path / "run")
    panels = build_panels(load_run_data(run_dir)).panels
    assert len(panels) >= 12
    for panel in panels:
        fig, ax = plt.subplots()
        panel.draw(ax)
        finish_axes(ax, panel, [], 60.2, True)
        assert ax.get_xlim() == (0, 60.2), panel.key
        plt.close(fig)


def test_write_panels_draws_the_fault_band_where_the_fault_was(tmp_path: Path) -> None:
    from faultdrill.analysis.windows import FaultInterval

    run_dir, _ = write_sample_run(tmp_path / "run", samples=False)
    panels = [p for p in build_panels(load_run_data(run_dir)).panels if p.key == "latency"]
    written = write_panels(panels, tmp_path, [FaultInterval("slow db", 20.0, 40.0)], 60.0, "t")
    image = plt.imread(written["latency"])
    height, width = image.shape[:2]
    row = image[height // 2]
    # the shaded band is pink: red high, green and blue lower; find its left and right edges
    pink = [x for x in range(width) if row[x][0] > 0.95 and 0.8 < row[x][1] < 0.93 and row[x][2] < 0.93]
    assert pink, "no shaded fault band"
    left, right = min(pink) / width, max(pink) / width
    def x(t: float) -> float:  # where run time t falls across the image: the plot area is LEFT…RIGHT
        return LEFT + (RIGHT - LEFT) * t / 60.0

    assert abs(left - x(20)) < 0.01 and abs(right - x(40)) < 0.01


def test_profiles_come_from_requests_csv_only_when_it_has_a_profile_column() -> None:
    with_profile = "t,name,profile,requests,failures,p50_ms,p95_ms,p99_ms,max_ms,errors\n0,GET /,legacy,10,4,,,,,\n"
    without = "t,name,requests,failures,p50_ms,p95_ms,p99_ms,max_ms,errors\n0,GET /,10,4,,,,,\n"
    assert [(r.profile, r.requests, r.failures) for r in parse_profiles(with_profile)] == [("legacy", 10, 4)]
    assert parse_profiles(without) == []


def test_sample_files_tolerate_a_line_cut_short_by_a_crash() -> None:
    text = ("t,wall,service,direction,endpoint,state,count\n"
            "0,w,app,inbound,:8000,ESTABLISHED,3\n"
            "1,w,app,inbo")
    rows = parse_connections(text)
    assert [(r.t, r.service, r.count) for r in rows] == [(0.0, "app", 3.0)]


def test_counters_become_rates_and_a_reset_gives_no_point() -> None:
    assert counter_rates([(0, 0), (1, 10), (3, 30), (4, 5)]) == [(1, 10.0), (3, 10.0), (4, None)]


def test_app_panels_show_the_series_that_moved_and_skip_the_noise() -> None:
    lines = ["t,wall,service,metric,labels,value"]
    for t in range(10):
        lines += [f"{t},w,app,requests_total,,{t * 5}", f"{t},w,app,threads_active,,{2 if t < 5 else 9}",
                  f"{t},w,app,python_gc_collections_total,,{t}", f"{t},w,app,build_info,,1",
                  f"{t},w,app,latency_bucket,le=\"0.1\",{t}"]
    chosen = dict(app_metric_series(parse_app_metrics("\n".join(lines)))["app"])
    assert "threads_active" in chosen and "requests_total /s" in chosen
    assert chosen["requests_total /s"][0] == (1.0, 5.0)  # a counter as a per-second rate
    assert not any("python_gc" in n or "bucket" in n or "info" in n for n in chosen)


def test_render_run_rerenders_a_run_directory_whose_build_paths_do_not_resolve_from_it(
        tmp_path: Path, draw_only: Callable[..., None]) -> None:
    draw_only("latency")
    run_dir, _ = write_sample_run(tmp_path / "run", status="interrupted", stop_at=30, samples=False)
    copy = run_dir.scenario_copy
    copy.write_text(copy.read_text().replace("image: example/app", "build: ../docker/app"))  # as a real run has
    data = json.loads(run_dir.run_json.read_text())
    report = render_run(run_dir.path)
    assert report.summary["status"] == data["status"] == "interrupted"
    assert {"summary", "junit", "markdown", "html", "plot:latency"} <= set(report.files)
    with pytest.raises(UsageError, match="is not a run directory"):
        render_run(tmp_path)


def test_the_html_uses_no_emoji_a_machine_without_an_emoji_font_cannot_draw(full_run: tuple[Path, Report]) -> None:
    html = (full_run[0] / "report.html").read_text()
    assert "✘ fail" in html and "✔ pass" in html
    assert not any(ch in html for ch in "✅❌⚠️")


def test_profiles_and_client_connections_come_from_the_histograms_when_the_load_engine_splits_them(
        tmp_path: Path, draw_only: Callable[..., None]) -> None:
    from faultdrill.histograms import LoadSecond, RequestStats

    if not hasattr(LoadSecond(0, 0), "profiles"):
        pytest.skip("this load engine does not record client profiles in histograms.jsonl")
    stats = RequestStats(count=10, failures=0).to_wire()
    failing = RequestStats(count=10, failures=10).to_wire()
    run_dir, scenario = write_sample_run(tmp_path / "run", samples=False, shape=SampleShape(profiles=()))
    lines = []
    for t in range(60):
        bad = 20 <= t < 40
        lines.append(json.dumps({
            "type": "second", "t": t, "users": 4, "requests": {"GET /": stats},
            "profiles": {"modern": {"GET /": stats}, "old-android": {"GET /": failing if bad else stats}},
            "conns": {"modern": {"requests": 10, "connects": 10},
                      "old-android": {"requests": 10, "connects": 0 if bad else 10, "tls_errors": 10 if bad else 0}},
        }))
    run_dir.histograms.write_text("\n".join(lines) + "\n")
    data = load_run_data(run_dir)
    assert {(r.profile, r.failures) for r in data.profiles if r.t == 30} == {("modern", 0), ("old-android", 10)}
    keys = [p.key for p in build_panels(data).panels]
    assert "profiles" in keys and "client-connections" in keys
    draw_only("client-connections")
    report = render_all(run_dir, scenario, "completed")
    assert report.problems == [] and (run_dir.path / "client-connections.png").exists()


# --------------------------------------------------------------------------- `faultdrill report`'s exit code
PASSING_CHECK = "  - {name: fast enough, metric: p95_ms, window: baseline, max: 50}\n"


@pytest.mark.parametrize("status, checks, code, why", [
    ("completed", PASSING_CHECK, 0, "all 1 checks passed"),
    ("completed", None, 1, "1 of 2 checks failed: errors stay low"),
    ("aborted", PASSING_CHECK, 1, "a stop condition ended the drill early (aborted: p95_ms over 500 for 5s)"),
    ("interrupted", None, 130, "the run was interrupted (SIGINT); its checks were not judged"),
    ("failed", None, 3, "the run failed (service app became unhealthy); its checks were not judged"),
    ("crashed", None, 3, "the run crashed (its process died)"),
    ("running", None, 3, "the run did not finish (status 'running' in run.json)"),
], ids=["passed", "check-failed", "aborted", "interrupted", "failed", "crashed", "never-finished"])
@pytest.mark.usefixtures("no_drawing")  # the verdict, not the drawing
def test_report_exits_with_the_runs_outcome_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         status: str,
                                                         checks: str | None, code: int, why: str) -> None:
    from faultdrill.cli import main

    complete = status in ("completed", "aborted")
    run_dir, _ = write_sample_run(tmp_path / "run", status="completed" if complete else "failed", checks=checks,
                                  stop_at=None if complete else 25, samples=False)
    if status == "interrupted":
        run_dir.events.write_text(run_dir.events.read_text().replace(
            '"kind": "run.failed", "error": "service app became unhealthy"', '"kind": "run.interrupted", "reason": "SIGINT"'))
    if status == "aborted":
        with run_dir.events.open("a") as fh:
            fh.write(json.dumps({"t": 59.0, "kind": "run.aborted", "rule": "too slow", "metric": "p95_ms",
                                 "since": 54.0, "detail": "p95_ms over 500 for 5s", "wall": "x"}) + "\n")
    record = json.loads(run_dir.run_json.read_text())
    run_dir.run_json.write_text(json.dumps(record | {"status": status}))
    assert main(["report", str(run_dir.path)]) == code
    err = capsys.readouterr().err
    verdict = [line for line in err.splitlines() if line.startswith(f"run {run_dir.run_id}: ")]
    assert len(verdict) == 1 and why in verdict[0], err
