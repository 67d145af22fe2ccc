"""A drill with a third-party fault kind (examples/extension's ``dns_override``, found by its entry
point), killed with SIGKILL mid-fault: the override is real in the container, the package's sampler
saw it, and ``faultdrill clean`` heals it from the journal through the plugin, then removes the stack."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import docker
from faultdrill.faults.journal import pending
from tests.helpers import ROOT, SCENARIOS, labelled, only_run_dir, wait_for
from tests.plugin_dist import install_example

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _resolves(container_name: str, host: str) -> str:
    result = docker.from_env().containers.get(container_name).exec_run(["getent", "hosts", host])
    return result.output.decode().split()[0] if result.exit_code == 0 else ""


def test_a_plugin_fault_killed_mid_drill_is_healed_by_clean_from_its_journal(tmp_path: Path) -> None:
    env = dict(os.environ, FAULTDRILL_REAPER="off",  # this test is about `clean` (the reaper leaves plugins to it)
               PYTHONPATH=os.pathsep.join([*map(str, install_example(tmp_path / "site")), str(ROOT / "src")]))
    data = yaml.safe_load((SCENARIOS / "extension-dns.yaml").read_text())
    data["name"] = "ext-crash"
    data["load"]["shape"] = [{"until": "60s", "users": 2, "spawn_rate": 2}]
    data["faults"][0].update({"at": "2s", "for": "40s"})
    data["checks"] = []
    scenario = SCENARIOS / f".ext-crash-{tmp_path.name}.yaml"  # beside the others: build paths are relative
    scenario.write_text(yaml.safe_dump(data))
    results = tmp_path / "results"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "faultdrill", "run", str(scenario), "--results", str(results)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def override_seen() -> bool:  # the package's sampler wrote the black-hole address
            files = list(results.glob("*/resolved_hosts.csv")) if results.exists() else []
            return bool(files) and "192.0.2.1" in files[0].read_text()
        try:
            assert wait_for(override_seen, timeout=120), "the override never showed in resolved_hosts.csv"
            run_dir = only_run_dir(results)
            [applied] = pending(run_dir / "journal.jsonl")
            assert _resolves(applied["name"], "backend") == "192.0.2.1"  # real, in the container
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        scenario.unlink()
    assert (applied["type"], applied["package"]) == ("dns_override", "faultdrill-dns")
    with open(run_dir / "resolved_hosts.csv", newline="") as fh:
        addresses = [row["address"] for row in csv.DictReader(fh)]
    assert addresses[0] not in ("", "192.0.2.1")  # before the fault: the backend's own address
    assert _resolves(applied["name"], "backend") == "192.0.2.1"  # the kill left it on

    clean = subprocess.run([sys.executable, "-m", "faultdrill", "clean", "--results", str(results),
                            "--run", run_dir.name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert (f"healed: {run_dir.name}: DNS override backend → 192.0.2.1 in {applied['name']}: "
            "backend resolves normally again") in clean.stdout.splitlines()
    assert pending(run_dir / "journal.jsonl") == []
    assert labelled(run_dir.name) == []
