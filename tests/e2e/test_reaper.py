"""A SIGKILLed `faultdrill run` cleans up after itself: its reaper heals and removes the run, no command needed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import docker
from faultdrill.faults.journal import pending
from tests.helpers import BUSY_SLACK_S, ROOT, SCENARIOS, faultdrill, labelled, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _scenario(tmp_path: Path, name: str, seconds: int, faults: list[dict]) -> Path:
    """The smoke stack plus a PostgreSQL (for the lock holder): the smallest stack with all three fault kinds."""
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data["name"] = name
    data["stack"]["services"]["db"] = {"build": "../docker/postgres", "health": {"cmd": ["pg_isready", "-U", "postgres"]},
                                      "postgres": {"user": "postgres", "database": "postgres"}}
    data["load"]["shape"] = [{"until": f"{seconds}s", "users": 5, "spawn_rate": 5}]
    data["faults"] = faults
    data["checks"] = []
    path = SCENARIOS / f".{name}-{tmp_path.name}.yaml"  # beside the others: build paths are relative
    path.write_text(yaml.safe_dump(data))
    return path


FAULTS = [
    {"name": "slow backend", "at": "1s", "toxic": {"proxy": "backend", "type": "latency", "latency": "200ms"}},
    {"name": "frozen backend", "at": "1s", "container": {"service": "backend", "action": "pause"}},
    {"name": "lock holder", "at": "1s", "sql": {"service": "db", "statements": ["SELECT pg_advisory_lock(4242)"]}},
]


@pytest.fixture
def killed_scenario(tmp_path: Path) -> Iterator[Path]:
    path = _scenario(tmp_path, "reap", 60, FAULTS)
    yield path
    path.unlink()


def _start_and_kill(scenario: Path, results: Path, grace: float) -> Path:
    """Run until the three faults are on, SIGKILL at a random moment after; the run's directory."""
    env = dict(os.environ, FAULTDRILL_REAPER_GRACE=str(grace))
    proc = subprocess.Popen([sys.executable, "-m", "faultdrill", "run", str(scenario), "--results", str(results)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def faults_on() -> bool:
        events = list(results.glob("*/events.jsonl")) if results.exists() else []
        return bool(events) and events[0].read_text().count('"fault.start"') == 3
    try:
        assert wait_for(faults_on, timeout=240), "the faults never started"
        time.sleep(random.uniform(0, 3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = next(p for p in results.iterdir() if p.is_dir())
    assert {a["type"] for a in pending(run_dir / "journal.jsonl")} == {"toxic", "container", "sql"}  # all on
    return run_dir


def _paused(run_id: str) -> list[str]:
    client = docker.from_env()
    return [c.name for c in client.containers.list(all=True, filters={"label": f"faultdrill.run={run_id}",
                                                                     "status": "paused"})]


def _assert_reaped(run_dir: Path) -> dict:
    record = json.loads((run_dir / "reaper.json").read_text())
    states = {f["type"]: (f["state"], f["detail"]) for f in record["faults"]}
    assert states["sql"] == ("healed", "lock holder ended"), states  # the lock holder's session was ended
    assert states["container"] == ("healed", "container unpaused"), states
    assert states["toxic"][0] in ("healed", "nothing left"), states
    assert record["failed"] == [], record
    assert {"fd-" + run_dir.name + "-web", "fd-" + run_dir.name + "-db"} <= set(record["removed"]["containers"])
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "crashed" and run["reaped"]["summary"] == record["summary"]
    assert record["summary"].startswith("reaped after the harness died at t=")
    assert pending(run_dir / "journal.jsonl") == []  # the reaper's heals are in the journal: clean redoes nothing
    return record


def test_sigkilled_run_is_healed_and_removed_by_its_reaper_without_any_command(killed_scenario: Path,
                                                                               tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_dir = _start_and_kill(killed_scenario, results, grace=3)
    killed = time.monotonic()
    # the 3 s grace, then heals and removals through a Docker engine that another test's drill may keep busy
    soon = 15 + 5 * BUSY_SLACK_S
    assert wait_for(lambda: (run_dir / "reaper.json").exists() and labelled(run_dir.name) == [], timeout=soon), \
        f"still there {soon:g} s after the kill: {labelled(run_dir.name)}"
    took = time.monotonic() - killed
    assert _paused(run_dir.name) == []
    record = _assert_reaped(run_dir)
    print(f"SIGKILL → everything gone and recorded in {took:.1f} s: {record['summary']}")

    cleaned = faultdrill("clean", "--results", str(results), "--run", run_dir.name)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"{run_dir.name}: reaped after the harness died" in cleaned.stdout
    assert "healed:" not in cleaned.stdout  # nothing done twice
    report = faultdrill("report", str(run_dir))
    assert report.returncode == 3 and "reaped after the harness died" in report.stdout + report.stderr
    assert "faultdrill clean" not in report.stdout + report.stderr


def test_a_new_run_during_the_grace_period_leaves_the_killed_run_to_its_reaper(killed_scenario: Path,
                                                                              tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_dir = _start_and_kill(killed_scenario, results, grace=10)  # long enough to overlap the next run's start
    second = _scenario(tmp_path, "after", 3, [])
    try:
        nxt = faultdrill("run", str(second), "--results", str(results), timeout=240)
    finally:
        second.unlink()
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert run_dir.name not in nxt.stdout + nxt.stderr, nxt.stdout + nxt.stderr  # left to its reaper, untouched
    assert wait_for(lambda: (run_dir / "reaper.json").exists() and labelled(run_dir.name) == [], timeout=30)
    _assert_reaped(run_dir)
    lines = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    reverts = Counter(json.dumps(e["action"]["key"]) for e in lines if e["op"] == "revert")
    assert set(reverts.values()) == {1}, reverts  # each fault undone once: by the reaper, not also by the new run
    assert all(e["action"].get("by") == "reaper" for e in lines if e["op"] == "revert")
    new_dir = next(p for p in results.iterdir() if p.is_dir() and p != run_dir)
    assert json.loads((new_dir / "run.json").read_text())["status"] == "completed"
    assert labelled(new_dir.name) == []
