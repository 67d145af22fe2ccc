"""Per-second fidelity of the open model: a 50 -> 500 rps step; the curve (completed requests
per second, by the run clock) must reach >= 90 % of the new rate within 2 s.

    .venv/bin/python bench/load_fidelity.py
"""

from __future__ import annotations

from load_common import drive, now, server, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.shape import Segment

STEP_AT, END = 8, 16


def main() -> None:
    d = workdir()
    with server() as url:
        config = ChildConfig(t0=now(), duration=END, host=url, journeys=str(d / "hammer.py"), mode="open",
                             segments=[Segment(STEP_AT, 50), Segment(END, 500)], request_timeout=10)
        out = drive(config, d / "locust.log")
    print(" t  intended  sent  done  late  dropped  lag_ms  cpu%")
    for s in out:
        o = s.open
        if o is not None:
            print(f"{s.t:2d} {o.intended:8d} {o.sent:5d} {s.total().count:5d} {o.late:5d} {o.dropped:8d} "
                  f"{o.lag_ms:7.1f} {s.cpu_pct or 0:5.0f}")
    by_t = {s.t: s.total().count for s in out}
    reached = next((t for t in range(STEP_AT, END) if by_t.get(t, 0) >= 450), None)
    print(f"step at {STEP_AT}s; first second with >= 450 completed: {reached} "
          f"({'within 2 s' if reached is not None and reached - STEP_AT < 2 else 'NOT within 2 s'})")


if __name__ == "__main__":
    main()
