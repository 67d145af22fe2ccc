"""Scale-out over local workers: requests/s with 1, 2 and 4 load processes (Locust master/worker for
2 and 4) hammering the same trivial local server, side by side in one run, the order rotated round by
round. Reports each side's median and spread, the scale-out ratios, the per-worker efficiency, and
what bounds them: the machine's CPU (busy %, all cores) and the target server's own share of it.

Goal: 2 workers >= 1.6x one worker — reachable only where the cores allow it (the target, the master
and the workers share this machine); the CPU figures say when they do not.

    .venv/bin/python bench/workers_bench.py [--users 40] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from figures import DEFAULT_ROUNDS, Figure, at_least, report
from load_common import PY, now, total, workdir

from faultdrill.histograms import LoadSecond
from faultdrill.load.config import ChildConfig
from faultdrill.load.process import LoadProcess
from faultdrill.load.shape import Segment

SIDES = (1, 2, 4)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def proc_cpu_s(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (float(parts[11]) + float(parts[12])) / TICKS


@contextmanager
def target(max_seconds: float) -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen([PY, "-m", "faultdrill.load.localserver", "--port", "0", "--max-seconds",
                             str(max_seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def measure(url: str, server_pid: int, d: Path, users: int, seconds: int, workers: int) -> tuple[float, float, float]:
    """(requests/s, machine CPU busy %, target server CPU % of one core) over the same steady seconds."""
    startup = 6 if workers > 1 else 3
    config = ChildConfig(t0=now(), duration=seconds + startup, host=url, journeys=str(d / "hammer.py"),
                         segments=[Segment(seconds + startup, users)], request_timeout=10, workers=workers)
    out: list[LoadSecond] = []
    marks: dict[int, tuple[float, float, float]] = {}  # run-clock second -> (busy, all jiffies, server CPU s)

    def on_second(second: LoadSecond) -> None:
        out.append(second)
        busy, all_ = cpu_busy()
        marks[second.t] = (busy, all_, proc_cpu_s(server_pid))  # taken just after the second ended

    with LoadProcess(duration=config.duration, host=url, journeys=config.journeys,
                     log_path=d / f"locust-{workers}.log", config=config) as load:
        load.start(on_second)
        load.finished.wait(config.duration + 30)
    busy = [s for s in out if s.total().count]
    if not busy:
        return 0.0, float("nan"), float("nan")
    lo = busy[0].t + 2  # skip the ramp-up second(s)
    hi = int(config.duration)
    rps = total(out, lo, hi).count / (hi - lo)
    first, last = marks.get(lo - 1), marks.get(hi - 1)
    if first is None or last is None:
        return rps, float("nan"), float("nan")
    return (rps, 100.0 * (last[0] - first[0]) / max(last[1] - first[1], 1.0),
            100.0 * (last[2] - first[2]) / (hi - lo))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = ap.parse_args()
    d = workdir()
    rps = {n: Figure(f"{n} worker{'s' if n > 1 else ''} requests/s", "req/s") for n in SIDES}
    machine = {n: Figure(f"{n} worker{'s' if n > 1 else ''}: machine CPU busy", "%") for n in SIDES}
    server_cpu = {n: Figure(f"{n} worker{'s' if n > 1 else ''}: target server CPU", "% of a core") for n in SIDES}
    ratio2 = Figure("2 workers / 1 worker", "x", ">= 1.6x", at_least(1.6))
    ratio4 = Figure("4 workers / 1 worker", "x")
    eff2 = Figure("per-worker efficiency, 2 workers", "%")
    eff4 = Figure("per-worker efficiency, 4 workers", "%")
    with target(max_seconds=args.rounds * len(SIDES) * (args.seconds + 30) + 60) as (url, server_pid):
        for r in range(args.rounds):
            order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]  # each side goes first once in 3 rounds
            got = {}
            for n in order:
                got[n] = measure(url, server_pid, d, args.users, args.seconds, n)
                rps[n].add(got[n][0])
                machine[n].add(got[n][1])
                server_cpu[n].add(got[n][2])
            one = got[1][0]
            if one:
                ratio2.add(got[2][0] / one)
                ratio4.add(got[4][0] / one)
                eff2.add(100.0 * got[2][0] / (2 * one))
                eff4.add(100.0 * got[4][0] / (4 * one))
            print(f"round {r + 1} ({' → '.join(map(str, order))}): "
                  + ", ".join(f"{n}w {got[n][0]:.0f} req/s (CPU {got[n][1]:.0f}%, server {got[n][2]:.0f}%)"
                              for n in SIDES), flush=True)
    figures = [*rps.values(), ratio2, ratio4, eff2, eff4, *machine.values(), *server_cpu.values()]
    code = report(figures, f"local workers 1/2/4: {args.users} users, {args.rounds} rotated rounds, "
                           f"{os.cpu_count()} cores")
    if code:
        print("what limits it: the target server, the master and the workers share these cores — when the "
              "machine CPU is near 100 % more processes only share the same cycles")
    return code


if __name__ == "__main__":
    sys.exit(main())
