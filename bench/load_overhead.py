"""Harness overhead: requests/s of faultdrill's load child vs bare Locust, same FastHttpUser, same
users, one process each, against the same fast local server. Goal: ratio >= 0.95.

On a shared machine requests/s swing with other people's load, so each round runs bare and ours
back to back, and the CPU cost is reported too: requests per CPU-second of the generator process
(what the harness's own bookkeeping costs, independent of how much CPU the process was given).

    .venv/bin/python bench/load_overhead.py [--users 20] [--seconds 12]
"""

from __future__ import annotations

import argparse

from load_common import bare_locust_rps, drive, now, server, total, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    d = workdir()
    warm = 3
    with server() as url:
        ratios, cpu_ratios = [], []
        for _ in range(args.rounds):
            bare, bare_per_cpu = bare_locust_rps(d, url, args.users, args.seconds, warm)
            config = ChildConfig(t0=now(), duration=args.seconds + 2, host=url, journeys=str(d / "hammer.py"),
                                 segments=[Segment(args.seconds + 2, args.users)], request_timeout=10)
            seconds = drive(config, d / "locust.log")
            lo, hi = warm + 2, args.seconds + 2  # +2: as when start-up was inside the run clock (comparable figures)
            count = total(seconds, lo, hi).count
            ours = count / (hi - lo)
            cpu_s = sum((s.cpu_pct or 0) / 100 for s in seconds if lo <= s.t < hi)
            ours_per_cpu = count / cpu_s if cpu_s else 0.0
            ratios.append(ours / bare)
            cpu_ratios.append(ours_per_cpu / bare_per_cpu)
            print(f"users={args.users} bare: {bare:.0f} rps, {bare_per_cpu:.0f} req/cpu-s | faultdrill: "
                  f"{ours:.0f} rps, {ours_per_cpu:.0f} req/cpu-s | rps ratio {ratios[-1]:.3f}, "
                  f"cpu-efficiency ratio {cpu_ratios[-1]:.3f}")
        ratios.sort()
        cpu_ratios.sort()
        print(f"median rps ratio {ratios[len(ratios) // 2]:.3f}; median cpu-efficiency ratio "
              f"{cpu_ratios[len(cpu_ratios) // 2]:.3f} over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
