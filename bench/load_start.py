"""The first seconds of a run: is second 0 a full second of load?

Prepares the generator, starts the run clock, and compares the requests of second 0 with those of
second 2 — closed model (10 users, ~100 requests/s against a fast local server) and open model (20
arrivals/s: nothing may be dropped). Goal: second 0 carries >= 90 % of second 2's requests.

    .venv/bin/python bench/load_start.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys

from figures import DEFAULT_ROUNDS, Figure, at_least, at_most, report
from load_common import drive, now, server, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    first = {mode: Figure(f"{mode} model: second 0 / second 2 requests", "x", ">= 0.9x", at_least(0.9))
             for mode in ("closed", "open")}
    dropped = Figure("open model: arrivals dropped", "arrivals", "0", at_most(0))
    with server() as url:
        for r in range(args.rounds):
            for mode, level in (("closed", 10), ("open", 20)) if r % 2 == 0 else (("open", 20), ("closed", 10)):
                config = ChildConfig(t0=now(), duration=args.seconds, host=url, journeys="builtin:smoke",
                                     segments=[Segment(args.seconds, level)], request_timeout=5, mode=mode)
                out = {s.t: s for s in drive(config, d / "locust.log")}
                zero, two = (out[t].total().count if t in out else 0 for t in (0, 2))
                first[mode].add(zero / two if two else float("nan"))
                if mode == "open":
                    dropped.add(sum(s.open.dropped for s in out.values() if s.open is not None))
                print(f"round {r + 1} {mode}: requests per second "
                      f"{[out[t].total().count if t in out else 0 for t in range(args.seconds)]}", flush=True)
    return report([*first.values(), dropped], f"run start, {args.rounds} rounds")


if __name__ == "__main__":
    sys.exit(main())
