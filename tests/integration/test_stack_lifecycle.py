"""The stack in real Docker: up/down by hand, health failures, cleanup of what a crash leaves."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

import docker
from faultdrill.stack.labels import run_labels
from tests.helpers import ROOT, SCENARIOS, faultdrill, labelled, only_run_dir

pytestmark = pytest.mark.docker

SMOKE_DIR = ROOT / "docker" / "smoke"


def test_up_prints_endpoints_that_answer_and_down_removes_everything() -> None:
    up = faultdrill("up", str(SCENARIOS / "smoke.yaml"), "--json", timeout=300)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    run_id = info["run_id"]
    try:
        web = info["endpoints"]["service.web:8000"]
        assert web.startswith("127.0.0.1:")
        with urllib.request.urlopen(f"http://{web}/", timeout=10) as resp:
            assert json.loads(resp.read())["backend"]["role"] == "backend"  # web -> proxy -> backend works
        assert info["endpoints"]["toxiproxy.api"].startswith("http://127.0.0.1:")
        assert labelled(run_id)
    finally:
        down = faultdrill("down", run_id)
    assert down.returncode == 0, down.stderr
    assert labelled(run_id) == []


def test_unhealthy_service_exits_3_with_its_logs_and_leaves_nothing(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(f"""\
name: broken
stack:
  services:
    app:
      build: {SMOKE_DIR}
      command: ["sh", "-c", "echo cannot connect to the database >&2; sleep 60"]
      health: {{tcp: 9999, timeout: 3s}}
load:
  journeys: builtin:smoke
  host: http://127.0.0.1:1
  shape: [{{until: 5s, users: 1}}]
""")
    proc = faultdrill("run", str(scenario), "--results", str(tmp_path / "results"))
    assert proc.returncode == 3, proc.stderr
    assert "service 'app' did not become healthy" in proc.stderr
    assert "cannot connect to the database" in proc.stderr  # the container's own last log lines
    assert "Traceback" not in proc.stderr
    run_dir = only_run_dir(tmp_path / "results")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert labelled(run_dir.name) == []


def test_clean_removes_objects_a_crashed_run_left(base_image: str) -> None:
    client = docker.from_env()
    run_id = "test-crashed-run"
    network = client.networks.create(f"faultdrill-{run_id}", labels=run_labels(run_id, "test"))
    container = client.containers.create(base_image, ["sleep", "60"], name=f"fd-{run_id}-x",
                                         labels=run_labels(run_id, "test"), network=network.name)
    container.start()
    assert len(labelled(run_id)) == 2
    proc = faultdrill("clean", "--run", run_id)
    assert proc.returncode == 0, proc.stderr
    assert labelled(run_id) == []
    assert f"fd-{run_id}-x" in proc.stdout


def test_a_clean_of_every_run_leaves_a_live_drill_alone(base_image: str) -> None:
    """`faultdrill clean` with no run: a crashed run's objects go, a drill still running (its owner process
    alive, here this test) keeps its stack and is named; `--run` removes it anyway."""
    import os
    import socket
    import subprocess
    import uuid

    client = docker.from_env()
    gone = subprocess.Popen(["true"])
    gone.wait()
    runs = {"live": (f"test-live-{uuid.uuid4().hex[:6]}", f"{socket.gethostname()}:{os.getpid()}"),
            "dead": (f"test-dead-{uuid.uuid4().hex[:6]}", f"{socket.gethostname()}:{gone.pid}")}
    for run_id, owner in runs.values():
        made = {"faultdrill.run": run_id, "faultdrill.owner": owner}
        network = client.networks.create(f"faultdrill-{run_id}", labels=made)
        client.containers.create(base_image, ["sleep", "60"], name=f"fd-{run_id}-x", labels=made, network=network.name)
    live, dead = runs["live"][0], runs["dead"][0]
    try:
        proc = faultdrill("clean")
        assert proc.returncode == 0, proc.stderr
        assert labelled(dead) == [] and len(labelled(live)) == 2
        assert f"left alone: {live}, whose drill is still running" in proc.stdout
        assert f"--run {live}` removes it anyway" in proc.stdout
        proc = faultdrill("clean", "--run", live)
        assert proc.returncode == 0 and labelled(live) == [], proc.stderr
    finally:
        faultdrill("clean", "--run", live)
        faultdrill("clean", "--run", dead)


def test_docker_unreachable_is_exit_3(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    proc = subprocess.run([sys.executable, "-m", "faultdrill", "clean", "--results", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3
    assert "cannot reach the Docker engine" in proc.stderr and "Traceback" not in proc.stderr
