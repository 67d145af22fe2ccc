"""Scale-out: requests/s with load.workers: 2 vs 1 (Locust master/worker, local workers), same
FastHttpUser hammering the same fast local server. Goal on 2 cores: ratio >= 1.6.

    .venv/bin/python bench/load_scale.py [--users 40] [--seconds 14]
"""

from __future__ import annotations

import argparse

from load_common import drive, now, server, total, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def rps(url: str, d, users: int, seconds: int, workers: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    startup = 6 if workers > 1 else 3
    config = ChildConfig(t0=now(), duration=seconds + startup, host=url, journeys=str(d / "hammer.py"),
                         segments=[Segment(seconds + startup, users)], request_timeout=10, workers=workers)
    out = drive(config, d / f"locust-{workers}.log")
    busy = [s for s in out if s.total().count]
    lo = busy[0].t + 2  # skip the ramp-up second(s)
    hi = config.duration
    window = [s for s in out if lo <= s.t < hi]
    cpu = max((s.cpu_pct or 0) for s in window) if window else 0
    return total(out, lo, hi).count / (hi - lo), cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--seconds", type=int, default=12)
    args = ap.parse_args()
    d = workdir()
    with server() as url:
        one, cpu1 = rps(url, d, args.users, args.seconds, 1)
        two, cpu2 = rps(url, d, args.users, args.seconds, 2)
    print(f"users={args.users} workers1_rps={one:.0f} (cpu max {cpu1:.0f}%) workers2_rps={two:.0f} "
          f"(busiest worker cpu max {cpu2:.0f}%) ratio={two / one:.2f}")


if __name__ == "__main__":
    main()
