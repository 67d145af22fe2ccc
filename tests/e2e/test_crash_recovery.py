"""A run killed with SIGKILL mid-fault: `faultdrill clean` heals from the journal and removes the rest."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import docker
from faultdrill.clock import RunClock
from faultdrill.faults.actions import action_for
from faultdrill.faults.engine import FaultEngine, ScheduledFault
from faultdrill.faults.journal import Journal, pending
from faultdrill.recorder.events import EventLog
from faultdrill.scenario import parse_scenario
from faultdrill.stack.cleanup import clean
from faultdrill.stack.stack import DockerStack
from tests.helpers import ROOT, SCENARIOS, faultdrill, labelled, only_run_dir, wait_for

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
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, FAULTDRILL_REAPER="off"))  # this test is about `clean`

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
    run_dir = only_run_dir(results)
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


def test_clean_heals_the_good_entries_removes_the_stack_and_names_the_one_it_cannot_heal(tmp_path: Path) -> None:
    """A killed run left a toxic, a paused container and an exec fault whose undo fails."""
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data["faults"] = [
        {"name": "slow backend", "at": 0, "toxic": {"proxy": "backend", "type": "latency", "latency": "200ms"}},
        {"name": "stuck rule", "at": 0, "exec": {"service": "web", "command": ["true"],
                                                  "undo": ["sh", "-c", "echo rule is stuck >&2; exit 7"]}},
        {"name": "frozen backend", "at": 0, "container": {"service": "backend", "action": "pause"}},
    ]
    scenario = parse_scenario(yaml.safe_dump(data), "heal-test", base_dir=SCENARIOS)
    run_id = f"test-heal-{secrets.token_hex(3)}"
    run_dir = tmp_path / "results" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(
        {"status": "running", "owner": {"pid": 2**22 + 7, "hostname": socket.gethostname()}}))  # a dead process
    client = docker.from_env()
    try:
        with DockerStack(client, scenario, SCENARIOS, run_id) as stack:
            engine = FaultEngine([ScheduledFault(f, action_for(f, scenario, stack.toxiproxy, stack.containers))
                                  for f in scenario.faults], Journal(run_dir / "journal.jsonl"),
                                 EventLog(run_dir / "events.jsonl", RunClock()), lambda: 1.0)
            engine.tick()  # all three on ...
            engine.journal.close()
            stack.detach()  # ... and the run dies without healing or removing anything
        assert len(pending(run_dir / "journal.jsonl")) == 3 and labelled(run_id)

        first = faultdrill("clean", "--results", str(tmp_path / "results"), "--run", run_id)
        assert first.returncode == 3, first.stdout + first.stderr
        lines = first.stdout.splitlines()
        assert f"healed: {run_id}: container pause of fd-{run_id}-backend: container restored" in lines
        assert f"healed: {run_id}: toxic fd-slow-backend on proxy backend: toxic removed" in lines
        assert any(line.startswith(f"could not heal: {run_id}: exec `true` in ") and "exited 7" in line
                   for line in lines), first.stdout
        assert "could not be healed or removed" in first.stderr and "exec `true`" in first.stderr
        assert labelled(run_id) == []  # removed anyway
        assert json.loads((run_dir / "run.json").read_text())["status"] == "crashed"

        second = faultdrill("clean", "--results", str(tmp_path / "results"), "--run", run_id)
        assert second.returncode == 0, second.stdout + second.stderr
        assert any(line.startswith(f"nothing left to heal: {run_id}: exec `true`") for line in second.stdout.splitlines())
        assert pending(run_dir / "journal.jsonl") == []
    finally:
        clean(client, run_id)
