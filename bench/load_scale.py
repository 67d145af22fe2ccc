"""Scale-out: requests/s with load.workers: 2 vs 1 (Locust master/worker, local workers), same
FastHttpUser hammering the same fast local server. Goal on 2 cores: ratio >= 1.6.

    .venv/bin/python bench/load_scale.py [--users 40] [--seconds 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import drive, now, server, total, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def rps(url: str, d: Path, users: int, seconds: int, workers: int) -> float:
    startup = 6 if workers > 1 else 3
    config = ChildConfig(t0=now(), duration=seconds + startup, host=url, journeys=str(d / "hammer.py"),
                         segments=[Segment(seconds + startup, users)], request_timeout=10, workers=workers)
    out = drive(config, d / f"locust-{workers}.log")
    busy = [s for s in out if s.total().count]
    if not busy:
        return 0.0
    lo = busy[0].t + 2  # skip the ramp-up second(s)
    hi = config.duration
    return total(out, lo, hi).count / (hi - lo)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    one = Figure("1 worker requests/s", "req/s")
    two = Figure("2 workers requests/s", "req/s")
    ratio = Figure("2 workers / 1 worker requests/s", "x", ">= 1.6x", at_least(1.6))
    with server() as url:
        for r in range(args.rounds):
            got = {w: rps(url, d, args.users, args.seconds, w) for w in ((1, 2) if r % 2 == 0 else (2, 1))}
            one.add(got[1])
            two.add(got[2])
            ratio.add(got[2] / got[1] if got[1] else float("nan"))
            print(f"round {r + 1}: 1 worker {got[1]:.0f} req/s, 2 workers {got[2]:.0f} req/s", flush=True)
    return report([one, two, ratio], f"scale-out: {args.users} users, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
