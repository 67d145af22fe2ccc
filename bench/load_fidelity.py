"""Per-second fidelity of the open model: a 50 -> 500 rps step; the curve (completed requests per
second, by the run clock) must reach >= 90 % of the new rate within 2 s of the step.

    .venv/bin/python bench/load_fidelity.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys

from figures import DEFAULT_ROUNDS, Figure, at_most, report
from load_common import drive, now, server, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment

STEP_AT, END, RATE = 8, 16, 500


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    settle = Figure(f"seconds after the step until >= 90 % of {RATE}/s completed", "s", "<= 1 s (within 2 s)",
                    at_most(1))
    dropped = Figure("arrivals dropped", "arrivals", "0", at_most(0))
    with server() as url:
        for r in range(args.rounds):
            config = ChildConfig(t0=now(), duration=END, host=url, journeys=str(d / "hammer.py"), mode="open",
                                 segments=[Segment(STEP_AT, 50), Segment(END, RATE)], request_timeout=10)
            out = drive(config, d / "locust.log")
            by_t = {s.t: s.total().count for s in out}
            reached = next((t for t in range(STEP_AT, END) if by_t.get(t, 0) >= 0.9 * RATE), None)
            settle.add(float(reached - STEP_AT) if reached is not None else float(END - STEP_AT))
            dropped.add(sum(s.open.dropped for s in out if s.open is not None))
            print(f"round {r + 1}: completed per second {[by_t.get(t, 0) for t in range(END)]}", flush=True)
    return report([settle, dropped], f"open-model step 50 -> {RATE}/s at t={STEP_AT}s, {args.rounds} rounds")


if __name__ == "__main__":
    sys.exit(main())
