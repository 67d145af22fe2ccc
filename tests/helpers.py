"""Helpers shared by the Docker-backed tests."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# How late a thread, a sample or a request may run on a busy machine: with `pytest -n 2` on two cores, a
# Docker drill in the other process has held a database sample back 1.9 s. Timing bounds are written as
# what the code promises (an interval, a toxic, a timeout) plus this, never as a quiet machine's figures.
BUSY_SLACK_S = 3.0


def faultdrill(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faultdrill", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def labelled(run_id: str | None = None) -> list[str]:
    """Every container, network and volume labelled by faultdrill (for one run, or any)."""
    client = docker.from_env()
    label = f"faultdrill.run={run_id}" if run_id else "faultdrill.run"
    # The low-level list, one call: ``containers.list`` inspects each container after listing them, and one that
    # a reaper removes in between made it raise NotFound (a race in the helper, not in what it checks).
    return ([c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters={"label": label})]
            + [n.name for n in client.networks.list(filters={"label": label})]
            + [v.name for v in client.volumes.list(filters={"label": label})])


def only_run_dir(results: Path) -> Path:
    runs = [p for p in results.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_timeseries(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "timeseries.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
