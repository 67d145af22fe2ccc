"""Building ``summary.json`` (schema ``faultdrill.summary/1``) from a run's saved data, and writing reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultdrill.analysis.checks import CheckResult, judge_all
from faultdrill.analysis.summary import request_names, window_stats
from faultdrill.analysis.windows import FaultInterval, build_windows
from faultdrill.load.histograms import LoadSecond
from faultdrill.recorder.events import read_events
from faultdrill.recorder.load_series import read_load_seconds
from faultdrill.recorder.provenance import write_json
from faultdrill.recorder.rundir import RunDir
from faultdrill.report.plots import latency_plot
from faultdrill.scenario.model import Scenario

SCHEMA = "faultdrill.summary/1"


def fault_intervals(events: list[dict[str, Any]], scenario: Scenario, end_t: float) -> list[FaultInterval]:
    """Real start/stop times from the events; a fault that started but never stopped ends with the run."""
    started: dict[str, float] = {}
    stopped: dict[str, float] = {}
    for event in events:
        if event["kind"] == "fault.start":
            started[event["fault"]] = event["t"]
        elif event["kind"] == "fault.stop":
            stopped[event["fault"]] = event["t"]
    return [FaultInterval(f.name, started[f.name], stopped.get(f.name, end_t))
            for f in scenario.faults if f.name in started]


@dataclass
class Report:
    summary: dict[str, Any]
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def build_summary(scenario: Scenario, run_id: str, seconds: list[LoadSecond], events: list[dict[str, Any]],
                  status: str) -> Report:
    end_t = max([scenario.duration] + [e["t"] for e in events if e["kind"] == "run.end"])
    if status != "completed":
        end_t = max([s.t + 1 for s in seconds] + [0])
    faults = fault_intervals(events, scenario, end_t)
    windows = build_windows(end_t, faults)
    checks = judge_all(scenario.checks, seconds, windows) if status == "completed" else []
    names = request_names(seconds)
    summary = {
        "schema": SCHEMA,
        "run_id": run_id,
        "scenario": scenario.name,
        "status": status,
        "duration_s": end_t,
        "faults": [{"name": f.name, "start": f.start, "end": f.end} for f in faults],
        "windows": {name: window_stats(seconds, w).to_json() for name, w in windows.items()},
        "requests": {name: {wname: window_stats(seconds, w, name).to_json() for wname, w in windows.items()}
                     for name in names},
        "checks": [c.to_json() for c in checks],
        "passed": status == "completed" and all(c.passed for c in checks),
    }
    return Report(summary, checks)


def render(run_dir: RunDir, scenario: Scenario, status: str) -> Report:
    """Write summary.json and the plots from the files in ``run_dir``."""
    seconds = read_load_seconds(run_dir.histograms)
    events = read_events(run_dir.events)
    report = build_summary(scenario, run_dir.run_id, seconds, events, status)
    write_json(run_dir.summary_json, report.summary)
    latency_plot(run_dir.latency_png, seconds,
                 [FaultInterval(f["name"], f["start"], f["end"]) for f in report.summary["faults"]],
                 report.summary["duration_s"], f"{scenario.name} — {run_dir.run_id} ({status})")
    return report


def load_summary(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
