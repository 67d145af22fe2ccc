"""A failing check and a firing stop condition, through the real CLI: exit codes, JUnit, summary.md."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultdrill.recorder.events import read_events
from tests.helpers import SCENARIOS, faultdrill, labelled, only_run_dir

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run_variant(tmp_path: Path, name: str, change: dict[str, Any]) -> tuple[int, str, Path]:
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data.update(name=name, **change)
    scenario = SCENARIOS / f".{name}-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    try:
        proc = faultdrill("run", str(scenario), "--results", str(tmp_path / "results"), timeout=300)
    finally:
        scenario.unlink()
    return proc.returncode, proc.stderr, only_run_dir(tmp_path / "results")


def test_a_failing_check_exits_1_with_a_failing_junit_case(tmp_path: Path) -> None:
    code, err, run_dir = run_variant(tmp_path, "failing-check", {
        "load": {**yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())["load"],
                 "shape": [{"until": "20s", "users": 5, "spawn_rate": 5}]},
        "faults": [{"name": "slow backend", "at": "5s", "for": "8s",
                    "toxic": {"proxy": "backend", "type": "latency", "latency": "200ms"}}],
        "checks": [{"name": "fast even when the backend is slow", "metric": "p95_ms", "window": "slow backend",
                    "max": 100},
                   {"name": "no errors", "metric": "error_rate", "window": "run", "max": 0.01},
                   {"name": "p95 alert", "metric": "p95_ms", "window": "run", "max": 100, "sustained": "2s"}],
    })
    assert code == 1, err
    assert "FAIL" in err and "fast even when the backend is slow" in err
    suite = ET.parse(run_dir / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["fast even when the backend is slow"].find("failure") is not None
    assert cases["no errors"].find("failure") is None
    summary = json.loads((run_dir / "summary.json").read_text())
    detection = next(d for d in summary["detection"] if d["check"] == "p95 alert")
    assert 1 <= detection["time_to_detect_s"] <= 4 and detection["time_to_recover_s"] is not None
    assert labelled(run_dir.name) == []


def test_an_abort_condition_heals_stops_and_says_why(tmp_path: Path) -> None:
    code, err, run_dir = run_variant(tmp_path, "aborting", {
        "faults": [{"name": "slow backend", "at": "5s", "toxic": {"proxy": "backend", "type": "latency",
                                                                  "latency": "300ms"}}],
        "checks": [{"name": "no errors", "metric": "error_rate", "window": "run", "max": 0.01}],
        "abort": [{"name": "latency meltdown", "metric": "p50_ms", "max": 250, "sustained": "3s"}],
    })
    assert code == 1, err
    events = read_events(run_dir / "events.jsonl")
    aborted = next(e for e in events if e["kind"] == "run.aborted")
    assert 7 <= aborted["t"] <= 15  # the toxic starts at 5 s; 3 s sustained; well before the 30 s end
    stop = next(e for e in events if e["kind"] == "fault.stop")
    assert stop["reason"] == "aborted" and stop["t"] >= aborted["t"]
    md = (run_dir / "summary.md").read_text()
    assert "Aborted" in md and "latency meltdown" in md
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "aborted"
    assert labelled(run_dir.name) == []
