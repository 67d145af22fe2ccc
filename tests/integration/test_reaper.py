"""The reaper on a real engine: a clean end, a lost harness with the record in a volume (as on a remote
engine), and `faultdrill clean` waiting for a reaper that is still at work."""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import docker
from faultdrill.faults.journal import Journal, pending
from faultdrill.reaper import protocol
from faultdrill.stack import labels
from faultdrill.stack.cleanup import clean
from faultdrill.stack.images import ensure_base
from faultdrill.stack.reaper import ReaperConfig, ReaperLink, absorb_records, live_reapers
from tests.helpers import faultdrill, labelled, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[docker.DockerClient, str, Path]]:
    """A run directory and a labelled network + container, as a run that is killed would leave them."""
    client = docker.from_env()
    run_id = f"test-reaper-{secrets.token_hex(3)}"
    run_dir = tmp_path / "results" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": "running", "owner": {"pid": 2**22 + 7, "hostname": socket.gethostname()}}))  # died
    try:
        yield client, run_id, run_dir
    finally:
        clean(client, run_id)
        for volume in client.volumes.list(filters={"label": f"{protocol.RECORD_LABEL}={run_id}"}):
            volume.remove(force=True)


def _stack(client: docker.DockerClient, run_id: str) -> None:
    network = client.networks.create(f"faultdrill-{run_id}", labels=labels.run_labels(run_id, "network"))
    client.containers.run(ensure_base(client), ["sleep", "120"], name=f"fd-{run_id}-app", detach=True,
                          network=network.name, labels=labels.run_labels(run_id, "service", "app"))


def _lose(link: ReaperLink) -> None:
    """What a SIGKILL does to the harness's end of the connection."""
    assert wait_for(lambda: link._sock is not None, timeout=60), link.error
    link._sock.close()  # type: ignore[union-attr]


def test_a_run_that_ends_cleanly_leaves_no_reaper_and_no_record(run: tuple) -> None:
    client, run_id, run_dir = run
    link = ReaperLink(client, run_id, run_dir, ReaperConfig(True, 1.0), time.time()).start()
    assert wait_for(lambda: link._sock is not None, timeout=60), link.error
    assert run_id in live_reapers(client)
    link.finish()
    assert link.error is None and labelled(run_id) == []
    assert not (run_dir / "reaper.json").exists()


def test_on_a_remote_engine_the_record_waits_in_a_volume_for_the_next_run_or_clean(
        run: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    client, run_id, run_dir = run
    monkeypatch.setenv("FAULTDRILL_REAPER_RECORD", "volume")  # the engine cannot see our files
    _stack(client, run_id)
    link = ReaperLink(client, run_id, run_dir, ReaperConfig(True, 0.5), time.time()).start()
    assert wait_for(lambda: link._sock is not None, timeout=60), link.error
    plugin_fault = {"type": "dns_override", "key": ["dns_override", "c1", "m"], "fault": "misresolved",
                    "package": "faultdrill-dns", "container": f"fd-{run_id}-app", "marker": "m"}
    with Journal(run_dir / "journal.jsonl", tee=link.journal) as journal:  # as the harness journals (and tees)
        journal.record("apply", plugin_fault, t=1.0)  # a plugin's fault: not the reaper's to run
    _lose(link)
    assert wait_for(lambda: labelled(run_id) == [] and run_id not in live_reapers(client), timeout=30), \
        labelled(run_id)
    assert not (run_dir / "reaper.json").exists()  # not here yet: it is on the engine

    lines = absorb_records(client, run_dir.parent)
    assert len(lines) == 1 and lines[0].startswith(f"{run_id}: reaped after the harness died at t=")
    assert lines[0].endswith(": left 1 plugin fault for `faultdrill clean` (dns_override), "
                             "removed 1 container, 1 network")
    record = json.loads((run_dir / "reaper.json").read_text())
    assert [(f["state"], f["action"]["package"]) for f in record["faults"]] == [("left for clean", "faultdrill-dns")]
    assert pending(run_dir / "journal.jsonl") == [plugin_fault]  # still open: clean, with the package, heals it
    assert record["removed"] == {"containers": [f"fd-{run_id}-app"], "networks": [f"faultdrill-{run_id}"],
                                 "volumes": []}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "crashed"
    assert client.volumes.list(filters={"label": f"{protocol.RECORD_LABEL}={run_id}"}) == []
    assert absorb_records(client, run_dir.parent) == []  # taken once


def test_clean_waits_for_a_reaper_in_its_grace_period_and_does_no_work_twice(run: tuple) -> None:
    client, run_id, run_dir = run
    _stack(client, run_id)
    link = ReaperLink(client, run_id, run_dir, ReaperConfig(True, 4.0), time.time()).start()
    _lose(link)
    cleaned = faultdrill("clean", "--results", str(run_dir.parent), "--run", run_id, timeout=120)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"waiting for the reaper of {run_id}" in cleaned.stdout
    assert f"{run_id}: reaped after the harness died" in cleaned.stdout
    assert "removed 0 containers, 0 networks, 0 volumes" in cleaned.stdout  # the reaper had done it
    assert labelled(run_id) == []
