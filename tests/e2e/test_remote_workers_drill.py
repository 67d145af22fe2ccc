"""A whole drill with two workers that joined by `faultdrill worker`, one killed mid-run: the loss is on
the timeline, delivery drops, the abort on `load_delivered_ratio` stops the drill, the run is marked
degraded, every worker's clock offset is in run.json, and nothing is left running.

The workers run on this host (the drill's target is a port published on 127.0.0.1); workers as
separate hosts and a shifted clock are `tests/integration/test_remote_workers.py`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from faultdrill.recorder.events import read_events
from tests.helpers import BUSY_SLACK_S, SCENARIOS, faultdrill, labelled, only_run_dir, read_timeseries

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TOKEN = "e2e-remote-workers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_once_running(results: Path, victim: subprocess.Popen[bytes], after: float, done: threading.Event) -> None:
    """SIGKILL ``victim`` ``after`` s into the run (once events.jsonl says the load started)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not done.is_set():
        for events in results.glob("*/events.jsonl"):
            if '"run.start"' in events.read_text():
                time.sleep(after)
                victim.send_signal(signal.SIGKILL)
                return
        time.sleep(0.2)


def test_a_drill_loses_a_remote_worker_and_aborts_degraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    data = yaml.safe_load((SCENARIOS / "smoke.yaml").read_text())
    data.update(name="remote-workers", faults=[], checks=[
        {"name": "the load was delivered", "metric": "load_delivered_ratio", "window": "run", "min": 0.95}],
        abort=[{"name": "lost a load machine", "metric": "load_delivered_ratio", "min": 0.8, "sustained": "2s"}])
    data["load"] = {"journeys": "builtin:smoke", "host": "${service.web.url}", "mode": "open",
                    "shape": [{"until": "30s", "rate": 40}],
                    "workers": {"local": 0, "remote": 2, "wait": "90s", "listen": f"127.0.0.1:{port}"}}
    scenario = SCENARIOS / f".remote-workers-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    env = dict(os.environ, FAULTDRILL_WORKER_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]  # noqa: SIM115 - closed below
    workers = [subprocess.Popen([sys.executable, "-m", "faultdrill", "worker", "--master", f"127.0.0.1:{port}",
                                 "--wait", "200"], env=env, stdout=log, stderr=log) for log in logs]
    done = threading.Event()
    killer = threading.Thread(target=kill_once_running, args=(tmp_path / "results", workers[1], 4.0, done))
    killer.start()
    try:
        monkeypatch.setenv("FAULTDRILL_WORKER_TOKEN", TOKEN)  # the drill uses this token instead of a new one
        proc = faultdrill("run", str(scenario), "--results", str(tmp_path / "results"), timeout=300)
    finally:
        done.set()
        killer.join(timeout=10)
        scenario.unlink()
        for worker in workers:
            if worker.poll() is None:
                worker.wait(timeout=30)
        for log in logs:
            log.close()
    worker_logs = "\n".join((tmp_path / f"worker{i}.log").read_text()[-1500:] for i in range(2))
    assert proc.returncode == 1, proc.stderr[-3000:] + worker_logs  # aborted: a stop condition fired
    assert "the drill runs degraded" in proc.stderr
    run_dir = only_run_dir(tmp_path / "results")
    events = read_events(run_dir / "events.jsonl")
    kinds = [e["kind"] for e in events]
    assert kinds.count("worker.joined") == 2 and kinds.count("worker.lost") == 1, kinds
    lost = next(e for e in events if e["kind"] == "worker.lost")
    aborted = next(e for e in events if e["kind"] == "run.aborted")
    # killed 4 s in (later if this host is busy), noticed within 3 s of its last record (one a second)
    assert 4.0 <= lost["lost_at"] <= 4.0 + 3.0 + 1.0 + BUSY_SLACK_S, (lost, aborted)
    assert aborted["metric"] == "load_delivered_ratio", aborted
    assert lost["lost_at"] < aborted["t"] < 20  # the abort ended the 30 s drill early
    rows = read_timeseries(run_dir)
    delivered = {int(r["t"]): float(r["delivered"]) / float(r["planned"]) for r in rows if r["planned"]}
    assert all(delivered[t] >= 0.9 for t in (0, 1, 2)), delivered
    assert min(delivered.values()) <= 0.6, delivered
    run = json.loads((run_dir / "run.json").read_text())
    assert run["degraded"] is True and run["load_workers"]["lost"] == 1
    # one host: no offset, within what each measure says of itself (half its best round trip) or 50 ms
    clocks = [w["clock"] for w in run["load_workers"]["workers"]]
    assert all(c["uncertainty_s"] < 0.25 and abs(c["offset_s"]) <= max(0.05, c["uncertainty_s"] + 0.005)
               for c in clocks), clocks
    assert any("ran degraded" in p for p in run["problems"])
    assert run["engine"]["local"] is True
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["degraded"] is True and summary["status"] == "aborted"
    check = next(c for c in summary["checks"] if c["name"] == "the load was delivered")
    assert not check["passed"], check
    assert "Degraded" in (run_dir / "summary.md").read_text()
    assert [w.returncode for w in workers][1] == -signal.SIGKILL and workers[0].returncode == 0, worker_logs
    assert labelled(run_dir.name) == []
