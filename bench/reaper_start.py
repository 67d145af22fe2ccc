"""What the reaper costs a run, and how fast it cleans up after a dead harness (issue 19).

Per round: the reaper's start alone (image check, `docker run`, connected — in the background), what it
adds on the run's own thread at the start (starting that background work) and at the end (`done`, the
container gone), and — with --kill — a lost harness: a labelled container and network, the connection
closed without `done` (what the kernel does for a SIGKILLed harness), timed until everything is gone.

    .venv/bin/python bench/reaper_start.py [--rounds 5] [--kill] [--grace 3]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import docker

from faultdrill.stack import labels
from faultdrill.stack.images import BASE_TAG
from faultdrill.stack.reaper import ReaperConfig, ReaperLink, ensure_image


def labelled(client: docker.DockerClient, run_id: str) -> int:
    f = {"label": f"{labels.RUN}={run_id}"}
    return len(client.containers.list(all=True, filters=f)) + len(client.networks.list(filters=f))


def one_round(client: docker.DockerClient, grace: float, kill: bool) -> dict[str, float]:
    run_id = f"bench-reaper-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / run_id
        run_dir.mkdir()
        (run_dir / "run.json").write_text('{"status": "running"}')
        t0 = time.monotonic()
        link = ReaperLink(client, run_id, run_dir, ReaperConfig(True, grace), time.time()).start()
        added_start = time.monotonic() - t0
        link._thread.join(60)
        out = {"start_alone": link.start_seconds or float("nan"), "added_start": added_start}
        if not kill:
            t1 = time.monotonic()
            link.finish()
            out["added_end"] = time.monotonic() - t1
            return out
        net = client.networks.create(f"faultdrill-{run_id}", labels=labels.run_labels(run_id, "network"))
        client.containers.run(BASE_TAG, ["sleep", "300"], name=f"fd-{run_id}-victim", detach=True,
                              network=net.name, labels=labels.run_labels(run_id, "service", "victim"))
        link.stack_up(net.name, "", "toxiproxy")
        assert link._sock is not None
        t1 = time.monotonic()
        link._sock.close()  # the harness is gone
        while labelled(client, run_id) and time.monotonic() - t1 < 60:
            time.sleep(0.05)
        out["kill_to_gone"] = time.monotonic() - t1
        out["recorded"] = float((run_dir / "reaper.json").exists())
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--kill", action="store_true", help="time a lost harness instead of a clean end")
    ap.add_argument("--grace", type=float, default=3.0)
    args = ap.parse_args()
    client = docker.from_env()
    print(f"image {ensure_image(client, print)}")
    rounds = [one_round(client, args.grace, args.kill) for _ in range(args.rounds)]
    if args.kill:
        print(f"records written: {sum(int(r.pop('recorded')) for r in rounds)} of {len(rounds)}")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"{key:13} median {statistics.median(values):.3f} s  min {min(values):.3f}  max {max(values):.3f}")


if __name__ == "__main__":
    main()
