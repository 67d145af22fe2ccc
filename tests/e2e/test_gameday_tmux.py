"""The game-day live view driven like a person would, in tmux: keys in, screen out."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from faultdrill.recorder.events import read_events
from tests.helpers import ROOT, SCENARIOS, labelled, only_run_dir, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_live_view_keys_inject_annotate_heal_quit(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed (scripts/ensure-test-tools.sh installs it)")
    data = yaml.safe_load((SCENARIOS / "gameday.yaml").read_text())
    data["load"]["shape"] = [{"until": "120s", "users": 5, "spawn_rate": 5}]
    scenario = SCENARIOS / f".gameday-tmux-{tmp_path.name}.yaml"
    scenario.write_text(yaml.safe_dump(data))
    results, session = tmp_path / "results", f"fd-{tmp_path.name}"[:30]
    command = f"cd {ROOT} && {ROOT}/.venv/bin/python -m faultdrill gameday {scenario} --results {results}; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "60", command)
    try:
        assert wait_for(lambda: "faultdrill game day" in tmux("capture-pane", "-t", session, "-p"), 240)
        assert wait_for(lambda: "users 5" in tmux("capture-pane", "-t", session, "-p"), 30)
        tmux("send-keys", "-t", session, "1")
        tmux("send-keys", "-t", session, "i")
        assert wait_for(lambda: "ACTIVE" in tmux("capture-pane", "-t", session, "-p"), 10)
        assert wait_for(lambda: "front page p95 under 150 ms" in tmux("capture-pane", "-t", session, "-p"), 20)
        screen = tmux("capture-pane", "-t", session, "-p")
        tmux("send-keys", "-t", session, "d")
        time.sleep(1)
        tmux("send-keys", "-t", session, "h")
        assert wait_for(lambda: "healed" in tmux("capture-pane", "-t", session, "-p"), 10)
        tmux("send-keys", "-t", session, "q")
        assert wait_for(lambda: "retrospective draft" in tmux("capture-pane", "-t", session, "-p", "-S", "-200"), 90)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        scenario.unlink(missing_ok=True)
    assert "slow backend" in screen and "hidden fault" in screen and "mystery" not in screen
    run_dir = only_run_dir(results)
    events = read_events(run_dir / "events.jsonl")
    kinds = [(e["kind"], e.get("fault") or e.get("annotation")) for e in events]
    start = kinds.index(("fault.start", "slow backend"))
    assert start < kinds.index(("annotation", "detected")) < kinds.index(("fault.stop", "slow backend"))
    assert ("run.stopped", None) in kinds
    assert "responders: **detected**" in (run_dir / "retrospective.md").read_text()
    assert labelled(run_dir.name) == []
