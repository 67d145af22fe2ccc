"""A run killed with SIGKILL mid-fault: `faultdrill clean` heals from the journal and removes the rest."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faultdrill.faults.journal import pending
from tests.helpers import ROOT, SCENARIOS, faultdrill, labelled, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_sigkill_then_clean_heals_toxic_and_paused_container(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data["name"] = "crash"
    data["faults"] = [
        {"name": "slow backend", "at": "2s", "toxic": {"proxy": "backend", "type": "latency", "latency": "200ms"}},
        {"name": "frozen backend", "at": "3s", "container": {"service": "backend", "action": "pause"}},
    ]
    data["checks"] = []
    scenario = SCENARIOS / f".crash-{tmp_path.name}.yaml"  # beside the others: build paths are relative
    scenario.write_text(yaml.safe_dump(data))
    results = tmp_path / "results"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "faultdrill", "run", str(scenario), "--results", str(results)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def both_faults_on() -> bool:
            events = list(results.glob("*/events.jsonl")) if results.exists() else []
            return bool(events) and events[0].read_text().count('"fault.start"') == 2
        try:
            assert wait_for(both_faults_on, timeout=240), "the faults never started"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        scenario.unlink()
    run_dir = next(results.iterdir())
    journal = run_dir / "journal.jsonl"
    left = pending(journal)
    assert {a["type"] for a in left} == {"toxic", "container"}  # the kill left both applied
    assert labelled(run_dir.name)  # and the stack running

    proc2 = faultdrill("clean", "--results", str(results), "--run", run_dir.name)
    assert proc2.returncode == 0, proc2.stderr
    assert pending(journal) == []
    outcomes = [json.loads(line)["action"].get("recovered") for line in journal.read_text().splitlines()]
    assert "toxic removed" in outcomes and "container restored" in outcomes  # healed, not just deleted
    assert labelled(run_dir.name) == []
    assert json.loads((run_dir / "run.json").read_text())["status"] == "crashed"
    rows = (run_dir / "timeseries.csv").read_text().splitlines()
    assert len(rows) >= 3  # the seconds recorded before the kill are kept
