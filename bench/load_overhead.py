"""Harness overhead: requests/s of faultdrill's load child vs bare Locust, same FastHttpUser, same
users, one process each, against the same fast local server. Goal: ratio >= 0.95.

On a shared machine requests/s swing with other people's load, so each round runs both sides back
to back (the order alternates round by round), and the CPU cost is reported too: requests per
CPU-second of the generator process (what the harness's own bookkeeping costs, independent of how
much CPU the process was given).

    .venv/bin/python bench/load_overhead.py [--users 20] [--seconds 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import bare_locust_rps, drive, now, server, total, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    warm = 3
    bare_rps = Figure("bare Locust requests/s", "req/s")
    ours_rps = Figure("faultdrill load child requests/s", "req/s")
    ratio = Figure("faultdrill / bare Locust requests/s", "x", ">= 0.95x", at_least(0.95))
    cpu_ratio = Figure("faultdrill / bare Locust requests per CPU-second", "x", ">= 0.95x", at_least(0.95))
    with server() as url:
        for r in range(args.rounds):
            results: dict[str, tuple[float, float]] = {}
            for side in (("bare", "ours") if r % 2 == 0 else ("ours", "bare")):
                if side == "bare":
                    results["bare"] = bare_locust_rps(d, url, args.users, args.seconds, warm)
                    continue
                config = ChildConfig(t0=now(), duration=args.seconds + 2, host=url, journeys=str(d / "hammer.py"),
                                     segments=[Segment(args.seconds + 2, args.users)], request_timeout=10)
                seconds = drive(config, d / "locust.log")
                lo, hi = warm + 2, args.seconds + 2  # +2: start-up inside the run clock (comparable windows)
                count = total(seconds, lo, hi).count
                cpu_s = sum((s.cpu_pct or 0) / 100 for s in seconds if lo <= s.t < hi)
                results["ours"] = (count / (hi - lo), count / cpu_s if cpu_s else 0.0)
            (bare, bare_per_cpu), (ours, ours_per_cpu) = results["bare"], results["ours"]
            bare_rps.add(bare)
            ours_rps.add(ours)
            ratio.add(ours / bare)
            cpu_ratio.add(ours_per_cpu / bare_per_cpu)
            print(f"round {r + 1}: bare {bare:.0f} req/s, {bare_per_cpu:.0f} req/cpu-s | faultdrill {ours:.0f} "
                  f"req/s, {ours_per_cpu:.0f} req/cpu-s", flush=True)
    return report([bare_rps, ours_rps, ratio, cpu_ratio],
                  f"load overhead: {args.users} users, {args.seconds} s per side, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
