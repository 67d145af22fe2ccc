"""The first seconds of a run: is second 0 a full second of load? (issue 12, item 4)

Prepares the generator, starts the run clock, and prints the requests of each second — closed
model (10 users, ~100 requests/s against a fast local server) and open model (20 arrivals/s:
intended, sent, dropped). Second 0 should look like second 2; nothing dropped.

    .venv/bin/python bench/load_start.py [--seconds 5]
"""

from __future__ import annotations

import argparse

from load_common import drive, now, server, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    d = workdir()
    with server() as url:
        for mode, level in (("closed", 10), ("open", 20)):
            config = ChildConfig(t0=now(), duration=args.seconds, host=url, journeys="builtin:smoke",
                                 segments=[Segment(args.seconds, level)], request_timeout=5, mode=mode)
            for s in drive(config, d / "locust.log"):
                o = s.open
                extra = "" if o is None else f" (intended {o.intended}, sent {o.sent}, dropped {o.dropped})"
                print(f"{mode:6} t={s.t}: {s.total().count:4d} requests{extra}")


if __name__ == "__main__":
    main()
