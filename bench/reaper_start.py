"""What the reaper costs a run, and how fast it cleans up after a dead harness (issue 19).

Each round does both: a run that ends cleanly — the reaper's start alone (image check, `docker run`,
connected; in the background), what it adds on the run's own thread at the start (starting that
background work) and at the end (`done`, the container gone) — and a lost harness: a labelled
container and network, the connection closed without `done` (what the kernel does for a SIGKILLed
harness), timed until everything labelled with the run id is gone and the record is written.

    .venv/bin/python bench/reaper_start.py [--rounds 3] [--grace 3]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

from figures import DEFAULT_ROUNDS, Figure, at_most, report

import docker
from faultdrill.stack import labels
from faultdrill.stack.images import BASE_TAG
from faultdrill.stack.reaper import ReaperConfig, ReaperLink, ensure_image


def labelled(client: docker.DockerClient, run_id: str) -> int:
    f = {"label": f"{labels.RUN}={run_id}"}
    return len(client.containers.list(all=True, filters=f)) + len(client.networks.list(filters=f))


def start(client: docker.DockerClient, run_dir: Path, grace: float) -> tuple[ReaperLink, float]:
    t0 = time.monotonic()
    link = ReaperLink(client, run_dir.name, run_dir, ReaperConfig(True, grace), time.time()).start()
    added = time.monotonic() - t0
    link._thread.join(60)
    if link.error:
        raise SystemExit(f"the reaper did not start: {link.error}")
    return link, added


def clean_end(client: docker.DockerClient, tmp: Path, grace: float) -> tuple[float, float, float]:
    run_dir = tmp / f"bench-reaper-{secrets.token_hex(3)}"
    run_dir.mkdir()
    link, added_start = start(client, run_dir, grace)
    t1 = time.monotonic()
    link.finish()
    return link.start_seconds or float("nan"), added_start, time.monotonic() - t1


def lost_harness(client: docker.DockerClient, tmp: Path, grace: float) -> float:
    run_id = f"bench-reaper-{secrets.token_hex(3)}"
    run_dir = tmp / run_id
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"status": "running"}')
    link, _ = start(client, run_dir, grace)
    net = client.networks.create(f"faultdrill-{run_id}", labels=labels.run_labels(run_id, "network"))
    client.containers.run(BASE_TAG, ["sleep", "300"], name=f"fd-{run_id}-victim", detach=True,
                          network=net.name, labels=labels.run_labels(run_id, "service", "victim"))
    assert link._sock is not None
    t1 = time.monotonic()
    link._sock.close()  # the harness is gone
    while (labelled(client, run_id) or not (run_dir / "reaper.json").exists()) and time.monotonic() - t1 < 60:
        time.sleep(0.05)
    return time.monotonic() - t1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--grace", type=float, default=3.0)
    args = ap.parse_args()
    client = docker.from_env()
    print(f"image {ensure_image(client, print)}")
    alone = Figure("reaper start alone (background)", "s", "< 1 s", at_most(1.0))
    at_start = Figure("added to the run's start", "s", "< 1 s", at_most(1.0))
    at_end = Figure("added to the run's end", "s", "< 1 s", at_most(1.0))
    gone = Figure(f"harness lost → all gone + recorded (grace {args.grace:g} s)", "s",
                  "< grace + 5 s", at_most(args.grace + 5))
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            a, s, e = clean_end(client, Path(tmp), args.grace)
            alone.add(a)
            at_start.add(s)
            at_end.add(e)
            gone.add(lost_harness(client, Path(tmp), args.grace))
    return report([alone, at_start, at_end, gone], f"reaper, {args.rounds} rounds")


if __name__ == "__main__":
    sys.exit(main())
