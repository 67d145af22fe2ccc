"""Coordinated omission: a server that freezes 1 s in every 5 s, loaded at ~200 rps.

Open model (200 arrivals/s, latency from the intended start) vs closed model (20 users pacing
0.1 s, latency from the real send — the classic hidden stall). Then an overload: 20 000 rps asked
of one process with max_in_flight 200, to show late/dropped/lag/CPU being reported.

    .venv/bin/python bench/load_co.py
"""

from __future__ import annotations

import textwrap

from load_common import drive, now, server, total, workdir

from faultdrill.load.config import ChildConfig
from faultdrill.load.histograms import percentile_ms
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


def row(label: str, out) -> None:  # type: ignore[no-untyped-def]
    stats = total(out, WARM, SECONDS)
    pct = {p: percentile_ms(stats.hist, p) or 0 for p in (50, 90, 99, 100)}
    opens = [s.open for s in out if s.open is not None]
    extra = ""
    if opens:
        extra = (f" intended={sum(o.intended for o in opens)} late={sum(o.late for o in opens)}"
                 f" dropped={sum(o.dropped for o in opens)} max_lag_ms={max(o.lag_ms for o in opens):.0f}")
    print(f"{label:28s} requests={stats.count:6d} rps={stats.count / (SECONDS - WARM):6.0f} p50={pct[50]:7.1f} "
          f"p90={pct[90]:7.1f} p99={pct[99]:7.1f} max={pct[100]:7.1f} ms{extra}")


def main() -> None:
    d = workdir()
    (d / "paced.py").write_text(textwrap.dedent(PACED))
    with server("--freeze-every", "5", "--freeze-for", "1") as url:
        open_cfg = ChildConfig(t0=now(), duration=SECONDS, host=url, journeys=str(d / "hammer.py"), mode="open",
                               segments=[Segment(SECONDS, 200)], request_timeout=10)
        row("open 200/s", drive(open_cfg, d / "open.log"))
        closed_cfg = ChildConfig(t0=now(), duration=SECONDS, host=url, journeys=str(d / "paced.py"),
                                 segments=[Segment(SECONDS, 20)], request_timeout=10)
        row("closed 20 users x 10/s", drive(closed_cfg, d / "closed.log"))
    with server() as url:
        over = ChildConfig(t0=now(), duration=8, host=url, journeys=str(d / "hammer.py"), mode="open",
                           segments=[Segment(8, 20000)], request_timeout=10, max_in_flight=200)
        out = drive(over, d / "over.log")
        row("open 20000/s (overload)", out)
        warned = [w for s in out for w in s.warnings]
        print("warnings, e.g.:", warned[len(warned) // 2] if warned else None)
        print("cpu% per second:", [round(s.cpu_pct or 0) for s in out])


if __name__ == "__main__":
    main()
