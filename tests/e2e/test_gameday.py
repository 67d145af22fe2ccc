"""A game day steered through the control endpoint: inject, annotate, heal, stop — and the review."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from faultdrill.gameday.control import ControlClient
from faultdrill.recorder.events import read_events
from tests.helpers import ROOT, SCENARIOS, labelled, only_run_dir, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []  # shared by every request the test server handles

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()


def test_gameday_inject_annotate_heal_stop(tmp_path: Path) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
    data["alerts"] = {"webhook": f"http://127.0.0.1:{hook.server_address[1]}/alert"}
    data["load"]["shape"] = [{"until": "120s", "users": 10, "spawn_rate": 10}]  # bounded even if the test fails
    scenario = SCENARIOS / f".gameday-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "faultdrill", "gameday", str(scenario), "--no-view",
                             "--results", str(results)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: bool(list(results.glob("*/control.json"))) if results.exists() else False, 240)
        run_dir = only_run_dir(results)
        control = json.loads((run_dir / "control.json").read_text())
        assert control["url"].startswith("http://127.0.0.1:")  # loopback only
        assert oct((run_dir / "control.json").stat().st_mode & 0o777) == "0o600"
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no control
            urllib.request.urlopen(urllib.request.Request(control["url"] + "/faults/1/inject", data=b"{}"), timeout=5)
        assert refused.value.code == 401
        bad = ControlClient(control["url"], "not-the-token")
        with pytest.raises(Exception, match="token"):
            bad.fault("inject", "slow backend")

        client = ControlClient.for_run(results, run_dir.name)
        time.sleep(4)  # a quiet baseline
        state = client.state()
        assert [f["name"] for f in state["faults"]] == ["slow backend", "hidden fault #2"]  # hidden stays hidden
        injected = client.fault("inject", "slow backend")["t"]
        assert wait_for(lambda: any(b["check"].startswith("front page") for b in client.state()["breached"]), 20)
        noted = client.annotate("detected", "p95 is way up on the front page")["t"]
        time.sleep(1)
        healed = client.fault("heal", "slow backend")["t"]
        assert wait_for(lambda: not client.state()["breached"], 20)
        resolved = client.annotate("resolved")["t"]
        client.stop()
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        scenario.unlink(missing_ok=True)
        hook.shutdown()
    assert proc.returncode in (0, 1), output
    events = read_events(run_dir / "events.jsonl")

    def first(kind: str, **match: object) -> dict:
        return next(e for e in events if e["kind"] == kind and all(e.get(k) == v for k, v in match.items()))

    start, stop = first("fault.start", fault="slow backend"), first("fault.stop", fault="slow backend")
    assert abs(start["t"] - injected) < 0.5 and abs(stop["t"] - healed) < 0.5
    breach = first("check.breached", check="front page p95 under 150 ms")
    assert start["t"] < breach["t"] < stop["t"] + 1
    assert abs(first("annotation", annotation="detected")["t"] - noted) < 0.5
    assert first("annotation", annotation="resolved")["t"] == pytest.approx(resolved, abs=0.5)
    assert first("run.stopped")["reason"]
    assert any(h["check"] == "front page p95 under 150 ms" for h in Hook.received)  # the alert went out
    assert first("alert.fired")["t"] >= breach["t"]

    retro = (run_dir / "retrospective.md").read_text()
    assert "fault **slow backend** started (by hand)" in retro
    assert "responders: **detected** — p95 is way up on the front page" in retro
    assert "| slow backend |" in retro  # the key-times row
    assert labelled(run_dir.name) == []
    assert not (run_dir / "control.json").exists()


def test_hidden_faults_leak_nowhere_until_revealed(tmp_path: Path) -> None:
    """Injected by hand and on the schedule: console and /state say "hidden fault #n", until reveal."""
    data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
    data["load"]["shape"] = [{"until": "90s", "users": 5, "spawn_rate": 5}]  # bounded even if the test fails
    data["faults"].append({"name": "quiet drain", "at": "2s", "for": "60s", "hidden": True,
                           "toxic": {"proxy": "backend", "type": "latency", "latency": "20ms"}})
    scenario = SCENARIOS / f".gameday-hidden-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    results = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "faultdrill", "gameday", str(scenario), "--no-view",
                             "--results", str(results)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: bool(list(results.glob("*/control.json"))) if results.exists() else False, 240)
        client = ControlClient.for_run(results, only_run_dir(results).name)
        client.fault("inject", "mystery")
        assert wait_for(lambda: sum(f["active"] for f in client.state()["faults"]) == 2, 20)
        time.sleep(6)  # a periodic progress line (every 5 s without the view) with both on
        state_before = json.dumps(client.state())
        with pytest.raises(Exception) as refused:
            client.fault("inject", "no such fault")
        n_before = len(printed)
        before = "".join(printed[:n_before]) + state_before + str(refused.value)
        client.fault("reveal", "mystery")
        time.sleep(6)
        state_after = json.dumps(client.state())
        client.stop()
        proc.wait(timeout=120)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        scenario.unlink(missing_ok=True)
    after = "".join(printed[n_before:])
    assert proc.returncode in (0, 1), "".join(printed)
    for secret in ("mystery", "quiet drain"):
        assert secret not in before, before
    assert "fault on: hidden fault #2" in before and "fault on: hidden fault #3" in before
    assert "hidden fault #2" in state_before and "hidden fault #3" in state_before
    assert "revealed: hidden fault #2 is mystery" in after
    assert "mystery (hidden fault #2)" in state_after and "quiet drain" not in state_after
    run_dir = only_run_dir(results)
    assert any(e.get("fault") == "quiet drain" for e in read_events(run_dir / "events.jsonl"))  # files keep names
    assert labelled(run_dir.name) == []
