"""Open-model capacity of one load process vs bare Locust's closed-loop rate.

Bare Locust (20 users, no wait) gives the closed-loop ceiling of one process against a fast local
server. The open model is then driven through rising arrival rates (steps of ``--step`` seconds at
50 %, 60 %, … 120 % of that ceiling, in one run); its capacity is the highest step with < 1 % late
arrivals and none dropped (the first second of each step is a transition and not judged). Goal:
capacity >= 0.8x the closed-loop rate. Rounds alternate which side runs first.

    .venv/bin/python bench/load_capacity.py [--rounds 3] [--step 3]
"""

from __future__ import annotations

import argparse
import sys

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import bare_locust_rps, drive, now, server, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment

FRACTIONS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]


def open_capacity(url: str, d, ceiling: float, step: int) -> float:  # type: ignore[no-untyped-def]
    rates = [max(1, round(f * ceiling)) for f in FRACTIONS]
    segments = [Segment(step * (i + 1), rate) for i, rate in enumerate(rates)]
    config = ChildConfig(t0=now(), duration=step * len(rates), host=url, journeys=str(d / "hammer.py"),
                         mode="open", segments=segments, request_timeout=10)
    out = {s.t: s for s in drive(config, d / "open.log")}
    best = 0.0
    for i, rate in enumerate(rates):
        judged = [out[t].open for t in range(step * i + 1, step * (i + 1)) if t in out and out[t].open]
        intended = sum(o.intended for o in judged)  # type: ignore[union-attr]
        late = sum(o.late for o in judged)  # type: ignore[union-attr]
        dropped = sum(o.dropped for o in judged)  # type: ignore[union-attr]
        ok = intended > 0 and dropped == 0 and late < 0.01 * intended
        print(f"  {rate:6d}/s: intended {intended}, late {late}, dropped {dropped} -> {'ok' if ok else 'over'}")
        if not ok:
            break
        best = float(rate)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--step", type=int, default=3)
    args = ap.parse_args()
    d = workdir()
    bare = Figure("bare Locust closed loop (20 users, no wait)", "req/s")
    capacity = Figure("open model: highest rate with < 1 % late, 0 dropped", "arrivals/s")
    ratio = Figure("open-model capacity / closed-loop rate", "x", ">= 0.8x", at_least(0.8))
    with server() as url:
        for r in range(args.rounds):
            if r % 2 == 0:
                ceiling, _ = bare_locust_rps(d, url, 20, 10, 3)
                cap = open_capacity(url, d, ceiling, args.step)
            else:
                previous = bare.values[-1]
                cap = open_capacity(url, d, previous, args.step)
                ceiling, _ = bare_locust_rps(d, url, 20, 10, 3)
            bare.add(ceiling)
            capacity.add(cap)
            ratio.add(cap / ceiling if ceiling else float("nan"))
            print(f"round {r + 1}: closed loop {ceiling:.0f} req/s, open capacity {cap:.0f}/s", flush=True)
    return report([bare, capacity, ratio], f"load generator capacity, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
