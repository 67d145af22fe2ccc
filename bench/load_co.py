"""Coordinated omission: a server that freezes 1 s in every 5 s, loaded at ~200 rps.

Open model (200 arrivals/s, latency from the intended start) vs closed model (20 users pacing
0.1 s, latency from the real send — the classic hidden stall), alternating round by round. Goal:
the open model's p99 shows the stall (>= 500 ms) where the closed model's hides most of it. Then
an overload: 20 000 rps asked of one process with max_in_flight 200 must be reported as dropped
arrivals and schedule lag, not silently sent late.

    .venv/bin/python bench/load_co.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import drive, now, server, total, workdir

from faultdrill.histograms import LoadSecond, percentile_ms
from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment

PACED = """
from locust import constant_pacing, task
from locust.contrib.fasthttp import FastHttpUser

class Paced(FastHttpUser):
    wait_time = constant_pacing(0.1)

    @task
    def home(self):
        self.client.get("/", name="GET /")
"""

SECONDS, WARM = 17, 2  # 15 s window after start-up: three freezes


def p99(out: list[LoadSecond]) -> float:
    return percentile_ms(total(out, WARM, SECONDS).hist, 99) or 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    (d / "paced.py").write_text(textwrap.dedent(PACED))
    open_p99 = Figure("open 200/s: p99 with 1 s stalls", "ms", ">= 500 ms (stall seen)", at_least(500))
    closed_p99 = Figure("closed 20 users x 10/s: p99 with 1 s stalls", "ms")
    dropped = Figure("overload 20 000/s: arrivals reported dropped", "arrivals", "> 0", at_least(1))
    with server("--freeze-every", "5", "--freeze-for", "1") as url:
        for r in range(args.rounds):
            for side in (("open", "closed") if r % 2 == 0 else ("closed", "open")):
                if side == "open":
                    cfg = ChildConfig(t0=now(), duration=SECONDS, host=url, journeys=str(d / "hammer.py"),
                                      mode="open", segments=[Segment(SECONDS, 200)], request_timeout=10)
                    open_p99.add(p99(drive(cfg, d / "open.log")))
                else:
                    cfg = ChildConfig(t0=now(), duration=SECONDS, host=url, journeys=str(d / "paced.py"),
                                      segments=[Segment(SECONDS, 20)], request_timeout=10)
                    closed_p99.add(p99(drive(cfg, d / "closed.log")))
            print(f"round {r + 1}: open p99 {open_p99.values[-1]:.0f} ms, closed p99 {closed_p99.values[-1]:.0f} ms",
                  flush=True)
    with server() as url:
        over = ChildConfig(t0=now(), duration=8, host=url, journeys=str(d / "hammer.py"), mode="open",
                           segments=[Segment(8, 20000)], request_timeout=10, max_in_flight=200)
        out = drive(over, d / "over.log")
        dropped.add(sum(s.open.dropped for s in out if s.open is not None))
        print("overload cpu% per second:", [round(s.cpu_pct or 0) for s in out])
    return report([open_p99, closed_p99, dropped], f"coordinated omission, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
