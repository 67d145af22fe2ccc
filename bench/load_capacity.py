"""Open-model capacity of one load process vs bare Locust's closed-loop rate.

Bare Locust (20 users, no wait) gives the closed-loop ceiling of one process against a fast local
server. The open model is then driven through rising arrival rates (steps of ``--step`` seconds at
50 %, 60 %, … 120 % of that ceiling, in one run); its capacity is the highest step with < 1 % late
arrivals and none dropped (the first second of each step is a transition and not judged). Goal:
capacity >= 0.8x the closed-loop rate. Rounds alternate which side runs first. On two cores or more the
server and the generators get cores of their own (``--no-pin`` to share them): the figure is the
generator's, not how the scheduler splits one core between it and its target.

Beside it, the CPU cost per request (requests per CPU-second of the generator process) of both
sides: the figure least disturbed by other load on the machine (a busy machine makes arrivals late
by descheduling the generator, whatever it costs). The open model's is taken over the steps it
kept up with (all the judged seconds of the first step when it kept up with none).

    .venv/bin/python bench/load_capacity.py [--rounds 3] [--step 3]
"""

from __future__ import annotations

import argparse
import os
import sys

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import bare_locust_rps, drive, now, server, split_cores, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment

FRACTIONS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]


def open_capacity(url: str, d, ceiling: float, step: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(capacity in arrivals/s, requests per CPU-second over the steps it kept up with)."""
    rates = [max(1, round(f * ceiling)) for f in FRACTIONS]
    segments = [Segment(step * (i + 1), rate) for i, rate in enumerate(rates)]
    config = ChildConfig(t0=now(), duration=step * len(rates), host=url, journeys=str(d / "hammer.py"),
                         mode="open", segments=segments, request_timeout=10)
    out = {s.t: s for s in drive(config, d / "open.log")}
    best = 0.0
    requests, cpu_s = 0, 0.0
    for i, rate in enumerate(rates):
        window = [out[t] for t in range(step * i + 1, step * (i + 1)) if t in out]
        judged = [s.open for s in window if s.open]
        intended = sum(o.intended for o in judged)  # type: ignore[union-attr]
        late = sum(o.late for o in judged)  # type: ignore[union-attr]
        dropped = sum(o.dropped for o in judged)  # type: ignore[union-attr]
        ok = intended > 0 and dropped == 0 and late < 0.01 * intended
        print(f"  {rate:6d}/s: intended {intended}, late {late}, dropped {dropped} -> {'ok' if ok else 'over'}")
        if ok or i == 0:
            requests += sum(s.total().count for s in window)
            cpu_s += sum((s.cpu_pct or 0) / 100 for s in window)
        if not ok:
            break
        best = float(rate)
    return best, requests / cpu_s if cpu_s else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--step", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true", help="let the server and the generators share every core")
    args = ap.parse_args()
    d = workdir()
    split = None if args.no_pin else split_cores()
    if split:
        os.sched_setaffinity(0, split[0])  # inherited by both sides' generator processes
        print(f"generators on cores {sorted(split[0])}, the server on {sorted(split[1])}", flush=True)
    bare = Figure("bare Locust closed loop (20 users, no wait)", "req/s")
    capacity = Figure("open model: highest rate with < 1 % late, 0 dropped", "arrivals/s")
    ratio = Figure("open-model capacity / closed-loop rate", "x", ">= 0.8x", at_least(0.8))
    bare_cpu = Figure("bare Locust requests per CPU-second", "req/cpu-s")
    open_cpu = Figure("open model requests per CPU-second", "req/cpu-s")
    with server(cores=split[1] if split else None) as url:
        for r in range(args.rounds):
            if r % 2 == 0:
                ceiling, per_cpu = bare_locust_rps(d, url, 20, 10, 3)
                cap, open_per_cpu = open_capacity(url, d, ceiling, args.step)
            else:
                previous = bare.values[-1]
                cap, open_per_cpu = open_capacity(url, d, previous, args.step)
                ceiling, per_cpu = bare_locust_rps(d, url, 20, 10, 3)
            bare.add(ceiling)
            capacity.add(cap)
            ratio.add(cap / ceiling if ceiling else float("nan"))
            bare_cpu.add(per_cpu)
            open_cpu.add(open_per_cpu)
            print(f"round {r + 1}: closed loop {ceiling:.0f} req/s, {per_cpu:.0f} req/cpu-s | open capacity "
                  f"{cap:.0f}/s, {open_per_cpu:.0f} req/cpu-s", flush=True)
    return report([bare, capacity, ratio, bare_cpu, open_cpu], f"load generator capacity, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
