"""Building ``summary.json`` (schema ``faultdrill.summary/2``) from a run's saved data, and writing
every report file: ``summary.json``, ``junit.xml``, ``summary.md``, the PNG plots and ``report.html``.

The schema is documented in ``docs/summary-schema.md`` and in :data:`SCHEMA_DOC` below. A version
only ever gains keys; a key is never removed, retyped or given a new meaning without bumping it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultdrill.analysis.checks import CheckResult, judge_all
from faultdrill.analysis.detection import detect_all
from faultdrill.analysis.ingress import with_ingress_rates
from faultdrill.analysis.summary import request_names, window_stats
from faultdrill.analysis.windows import HEAL_REASONS, FaultInterval, build_windows, steady_spans
from faultdrill.errors import ExitCode
from faultdrill.histograms import LoadSecond
from faultdrill.recorder.points import read_samples
from faultdrill.recorder.provenance import write_json
from faultdrill.recorder.rundir import RunDir
from faultdrill.report.drawing import Panel, PlotFile, write_panels
from faultdrill.report.plots import build_panels
from faultdrill.report.timeline_page import render_timeline
from faultdrill.scenario.model import Scenario

SCHEMA = "faultdrill.summary/2"
SCHEMA_DOC = """\
faultdrill.summary/2 — summary.json, one object (version 2: latency is of successful requests by default,
windows say when they are empty, detection rows only where they mean something):

schema              "faultdrill.summary/2"
run_id              the run directory's name
scenario            the scenario's name
status              "completed" | "aborted" (a stop condition fired) | "interrupted" | "failed" | "crashed"
                    (the process died; seen when a run is re-rendered) — the run, not the checks
verdict             "passed" | "failed" (a check failed or was misconfigured) | "incomplete" (the run did
                    not complete)
error               why the run did not complete (from events.jsonl), else null
duration_s          run-clock seconds the report covers (0 = load start)
faults[]            faults that really started: name, start, end (run-clock s; the run's end if it was not
                    healed), healed (false: the fault did not end — it was on until the drill ended, an
                    abort or teardown), planned_start, planned_end (null = until the end), stop_reason
faults_not_started[] name, planned_start, planned_end of faults the run never reached
windows{}           by window name — baseline (steady load before the first fault: ramps left out),
                    ramp (the load still changing before the first fault; only if there was any),
                    <each fault>, fault (all faults), recovery (after the last *healed* fault), run —
                    window, start, end, spans [[from, to]…], note, seconds, empty (true: no second in it;
                    every value below is then null or 0 and means nothing), requests, failures,
                    error_rate (fraction; in the open model dropped arrivals count as failed attempts),
                    rps, p50_ms, p95_ms, p99_ms, max_ms (true percentiles of the *successful* requests),
                    all_p50_ms, all_p95_ms, all_p99_ms, all_max_ms (of every request, failed ones
                    included), errors {kind: count}, intended, dropped, late, lag_ms (open model only,
                    else null)
requests{}          the same per request name: requests[name][window] = window stats
checks[]            judged checks: name, metric, window, request, profile, value, min, max, passed, reason,
                    outcome ("passed" | "failed" | "misconfigured": a request, profile or series that never
                    appeared), latency_of ("successful" | "all"; latency metrics only), expectation
                    (true: the check confirms a fault shows), breaches [[from, to]…]
checks_misconfigured[] names of the checks that named something this run never had
detection[]         rows where they mean something (see faultdrill.analysis.detection): SLO checks × the
                    faults in their window, expectations × their own fault — fault, check, role ("slo" |
                    "expectation"), fault_start, fault_end (null: did not end), detected_at,
                    time_to_detect_s (null when already breached), recovered_at, time_to_recover_s
                    (from the heal of recovered_after), recovered_after, overlaps [faults also active
                    during the breach], note (ok | held | already_breached | never_recovered |
                    recovered_during_fault | fault_did_not_end | shown | not_shown | still_shown)
aborted             null, or the stop condition that ended the drill: rule, metric, at, since, detail
checks_not_judged[] name, metric, window of checks a run that did not complete never judged
degraded            true when a load worker was lost during the run (the load delivered less than planned)
workers_lost[]      worker, host, at (run-clock s), why — each load worker lost during the run
passed              true when the run completed and every check passed
"""


def _planned(scenario: Scenario, name: str) -> tuple[float | None, float | None]:
    for fault in scenario.faults:
        if fault.name == name:
            return fault.at, fault.end
    return None, None


def fault_intervals(events: list[dict[str, Any]], scenario: Scenario, end_t: float) -> list[FaultInterval]:
    """Real start/heal times from the events. A fault stopped by anything but a heal (the drill ending,
    an abort, teardown) — or never stopped — did not end: its ``end`` is None."""
    started: dict[str, float] = {}
    healed: dict[str, float] = {}
    for event in events:
        if event["kind"] == "fault.start":
            started[event["fault"]] = event["t"]
            healed.pop(event["fault"], None)
        elif event["kind"] == "fault.stop" and event.get("reason") in HEAL_REASONS and event["t"] < end_t:
            healed[event["fault"]] = event["t"]
    return [FaultInterval(f.name, started[f.name], healed.get(f.name))
            for f in scenario.faults if f.name in started]


def fault_timeline(events: list[dict[str, Any]], scenario: Scenario, faults: list[FaultInterval],
                   end_t: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each started fault with its planned and real times; and the faults that never started."""
    reasons = {e["fault"]: e.get("reason") for e in events if e.get("kind") == "fault.stop" and "fault" in e}
    started = []
    for f in faults:
        planned_start, planned_end = _planned(scenario, f.name)
        started.append({"name": f.name, "start": f.start, "end": f.end if f.end is not None else end_t,
                        "healed": f.healed, "planned_start": planned_start, "planned_end": planned_end,
                        "stop_reason": reasons.get(f.name, "run ended")})
    names = {f.name for f in faults}
    not_started = [{"name": f.name, "planned_start": f.at, "planned_end": f.end}
                   for f in scenario.faults if f.name not in names]
    return started, not_started


def run_error(events: list[dict[str, Any]]) -> str | None:
    for event in reversed(events):
        if event.get("kind") == "run.interrupted":
            return f"interrupted ({event.get('reason') or 'SIGINT'})"
        if event.get("kind") == "run.aborted":
            return f"aborted: {event.get('detail')}"
        if event.get("kind") == "run.failed":
            return str(event.get("error") or "failed")
    return None


def _json_window(window: Any) -> Any:
    if isinstance(window, str):
        return window
    dump = getattr(window, "model_dump", None)
    return dump(by_alias=True) if dump else str(window)


@dataclass
class Report:
    summary: dict[str, Any]
    checks: list[CheckResult]
    files: dict[str, Path] = field(default_factory=dict)  # what was written, by kind: summary, junit, html, …
    skipped_panels: list[str] = field(default_factory=list)  # "connections: connections.csv was not recorded"
    problems: list[str] = field(default_factory=list)  # parts of the report that could not be written

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


JUDGED = ("completed", "aborted")  # an aborted drill is judged on what it saw: it ran, and it broke


def build_summary(scenario: Scenario, run_id: str, seconds: list[LoadSecond], events: list[dict[str, Any]],
                  status: str, samples: dict[str, Any] | None = None) -> Report:
    end_t = max([scenario.duration] + [e["t"] for e in events if e["kind"] == "run.end"])
    if status != "completed":
        end_t = max([s.t + 1 for s in seconds] + [0])
    faults = fault_intervals(events, scenario, end_t)
    windows = build_windows(end_t, faults, steady_spans(scenario.load.segments(), end_t, scenario.load.mode))
    interval = scenario.record.interval
    names_of_faults = [f.name for f in faults]
    checks = judge_all(scenario.checks, seconds, windows, samples, interval, names_of_faults) if status in JUDGED else []
    misconfigured = [c.name for c in checks if c.outcome == "misconfigured"]
    detection = detect_all(scenario.checks, faults, seconds, end_t, samples, windows=windows, interval=interval,
                           skip=misconfigured) if status in JUDGED else []
    names = request_names(seconds)
    started, not_started = fault_timeline(events, scenario, faults, end_t)
    passed = status == "completed" and all(c.passed for c in checks)
    summary = {
        "schema": SCHEMA,
        "run_id": run_id,
        "scenario": scenario.name,
        "status": status,
        "verdict": "passed" if passed else ("failed" if status in JUDGED else "incomplete"),
        "error": None if status == "completed" else run_error(events),
        "aborted": next(({"rule": e.get("rule"), "metric": e.get("metric"), "at": e["t"], "since": e.get("since"),
                          "detail": e.get("detail")} for e in events if e["kind"] == "run.aborted"), None),
        "duration_s": end_t,
        "faults": started,
        "faults_not_started": not_started,
        "windows": {name: window_stats(seconds, w).to_json() for name, w in windows.items()},
        "requests": {name: {wname: window_stats(seconds, w, name).to_json() for wname, w in windows.items()}
                     for name in names},
        "checks": [c.to_json() for c in checks],
        "checks_misconfigured": misconfigured,
        "detection": [d.to_json() for d in detection],
        "degraded": any(e["kind"] == "worker.lost" for e in events),
        "workers_lost": [{"worker": e.get("worker"), "host": e.get("host"), "at": e.get("lost_at", e["t"]),
                          "why": e.get("why")} for e in events if e["kind"] == "worker.lost"],
        "checks_not_judged": [] if status in JUDGED else [
            {"name": c.name, "metric": c.metric, "window": _json_window(c.window)} for c in scenario.checks],
        "passed": passed,
    }
    return Report(summary, checks)


def exit_code_for(summary: dict[str, Any]) -> tuple[int, str]:
    """What a report on a finished run exits with, and why in one line (``faultdrill report``).

    The same codes as the run itself: 0 every check passed · 1 a check failed or a stop condition
    ended the drill · 3 the run failed, crashed or never finished · 130 it was interrupted.
    """
    status, error = summary.get("status"), summary.get("error")
    checks = summary.get("checks") or []
    failed = [c["name"] for c in checks if not c.get("passed")]
    if status == "completed" and not failed:
        return ExitCode.OK, f"all {len(checks)} checks passed"
    if status == "completed":
        return ExitCode.CHECK_FAILED, f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}"
    if status == "aborted":
        return ExitCode.CHECK_FAILED, f"a stop condition ended the drill early ({error or 'aborted'})"
    if status == "interrupted":
        return ExitCode.INTERRUPTED, f"the run was {error or 'interrupted'}; its checks were not judged"
    if status == "crashed" and summary.get("reaped"):
        return ExitCode.INFRA, f"the run crashed (its process died); its checks were not judged — {summary['reaped']}"
    if status == "crashed":
        return ExitCode.INFRA, ("the run crashed (its process died); its checks were not judged — "
                                "`faultdrill clean` heals and removes what it left")
    if status == "failed":
        return ExitCode.INFRA, f"the run failed ({error or 'see events.jsonl'}); its checks were not judged"
    return ExitCode.INFRA, (f"the run did not finish (status {status!r} in run.json); its checks were not judged "
                            "— if its process died, `faultdrill clean` marks it crashed")


def render(run_dir: RunDir, scenario: Scenario, status: str) -> Report:
    """Write every report file into ``run_dir`` (the drill calls this at the end of each run)."""
    return render_all(run_dir, scenario, status)


def render_all(run_dir: RunDir, scenario: Scenario, status: str, *, plots: bool = True,
               html: bool = True) -> Report:
    """Write ``summary.json``, ``junit.xml``, ``summary.md``, the plots and ``report.html``.

    The files a CI job reads come first, so a failure while drawing leaves them written. A panel
    that cannot be drawn is named in ``report.problems`` and in the HTML; the others still are.
    """
    from faultdrill.report import html as html_report
    from faultdrill.report import junit, markdown
    from faultdrill.report.data import load_run_data

    data = load_run_data(run_dir)
    report = build_summary(scenario, run_dir.run_id, data.seconds, data.events, status, with_ingress_rates(read_samples(run_dir.path)))
    summary = report.summary
    if (data.run_info.get("reaped") or {}).get("summary"):  # the harness died and its reaper cleaned up
        summary["reaped"] = data.run_info["reaped"]["summary"]
    write_json(run_dir.summary_json, summary)
    report.files["summary"] = run_dir.summary_json
    junit_path = run_dir.path / "junit.xml"
    started = data.run_info.get("started")
    junit_path.write_text(junit.render_junit(summary, hostname=(data.run_info.get("host") or {}).get("hostname"),
                                             timestamp=started[:19] if isinstance(started, str) else None),
                          encoding="utf-8")
    report.files["junit"] = junit_path
    md_path = run_dir.path / "summary.md"
    md_path.write_text(markdown.render_markdown(summary, [str(p) for p in data.run_info.get("problems") or []]),
                       encoding="utf-8")
    report.files["markdown"] = md_path
    if not plots:
        return report
    panel_set = build_panels(data)
    report.skipped_panels = [f"{s.key}: {s.reason}" for s in panel_set.skipped]
    faults = [FaultInterval(f["name"], f["start"], f["end"]) for f in summary["faults"]]
    title = f"{scenario.name} — {run_dir.run_id} ({status})"
    story = _draw_story(data, summary, title, scenario.record.interval, run_dir.path, report)
    if "story" in report.files:
        md_path.write_text(markdown.render_markdown(summary, [str(p) for p in data.run_info.get("problems") or []],
                                                    story_png="story.png"), encoding="utf-8")
    drawn, failed = _draw(panel_set.panels, run_dir.path, faults, summary["duration_s"], title)
    report.problems += failed
    report.files.update({f"plot:{p.key}": p.path for p in drawn})
    if html:
        html_path = run_dir.path / "report.html"
        html_path.write_text(html_report.render_html(summary, data.run_info, drawn, report.skipped_panels,
                                                     report.problems, status=status,
                                                     description=scenario.description, story=story,
                                                     details=_detail_figures(data, story, scenario.record.interval)),
                             encoding="utf-8")
        report.files["html"] = html_path
        timeline_path = run_dir.path / "timeline.html"
        timeline_path.write_text(render_timeline(summary, data.events, scenario.name), encoding="utf-8")
        report.files["timeline"] = timeline_path
    return report


def render_run(path: Path) -> Report:
    """Re-render every report file of an existing run directory (what ``faultdrill report`` does).

    The scenario is read from the run's own ``scenario.yaml`` copy without checking the files it
    names (build directories, locustfiles): they were checked when the run started, and relative
    paths do not resolve from the results directory. The status comes from ``run.json``.
    """
    from faultdrill.errors import UsageError
    from faultdrill.report.data import read_json_file
    from faultdrill.scenario import parse_scenario

    run_dir = RunDir(Path(path))
    if not run_dir.scenario_copy.is_file():
        raise UsageError(f"{run_dir.path} is not a run directory (no scenario.yaml in it)",
                         hint="give a directory under results/, e.g. results/<run id>")
    scenario = parse_scenario(run_dir.scenario_copy.read_text(encoding="utf-8"), str(run_dir.scenario_copy))
    status = str(read_json_file(run_dir.run_json).get("status") or "completed")
    return render_all(run_dir, scenario, status)


def _draw_story(data: Any, summary: dict[str, Any], title: str, interval: float, out_dir: Path,
                report: Report) -> Any:
    """The "what happened" figure (``story.png``); None, and a problem said, when it cannot be drawn."""
    from faultdrill.report.figure_png import write_figure_png
    from faultdrill.report.story import story_figure

    figure = story_figure(data, summary, f"What happened — {title}", interval)
    if not figure.charts:
        return None
    try:
        report.files["story"] = write_figure_png(figure, out_dir / "story.png")
    except Exception as exc:
        report.problems.append(f"the story figure could not be drawn: {type(exc).__name__}: {exc}")
    return figure


def _detail_figures(data: Any, story: Any, interval: float) -> list[Any]:
    """The detail charts by what to watch, each section a figure with the story's bands and markers."""
    from faultdrill.report.chart_model import Figure
    from faultdrill.report.detail_charts import SECTIONS, detail_charts

    if story is None:
        return []
    charts = detail_charts(data, interval)
    return [Figure(f"detail-{key}", title, tuple(charts[key]), story.duration, story.bands, story.markers)
            for key, title in SECTIONS if charts.get(key)]


def _draw(panels: list[Panel], out_dir: Path, faults: list[FaultInterval], duration: float,
          title: str) -> tuple[list[PlotFile], list[str]]:
    drawn: list[PlotFile] = []
    problems: list[str] = []
    for panel in panels:
        try:
            paths = write_panels([panel], out_dir, faults, duration, title, dashboard=False)
        except Exception as exc:
            problems.append(f"plot {panel.key!r} could not be drawn: {type(exc).__name__}: {exc}")
            continue
        drawn.append(PlotFile(panel.key, panel.title, paths[panel.key]))
    keep = {p.key for p in drawn}
    dashboard = write_panels([p for p in panels if p.key in keep], out_dir, faults, duration, title,
                             dashboard=True, singles=False)
    if "dashboard" in dashboard:
        drawn.append(PlotFile("dashboard", "All panels on one time axis", dashboard["dashboard"]))
    return drawn, problems
