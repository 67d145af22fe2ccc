"""Shared pieces of the load benchmarks: a fast local server process, a driver run, a bare-Locust run.

Everything targets 127.0.0.1 and is bounded in time (server --max-seconds, the child's deadline).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faultdrill.histograms import LoadSecond, RequestStats
from faultdrill.load.config import ChildConfig
from faultdrill.load.process import LoadProcess

PY = sys.executable

HAMMER = """
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def home(self):
        self.client.get("/", name="GET /")
"""

BARE = """
import sys, time
from gevent import monkey; monkey.patch_all()
from locust.env import Environment
sys.path.insert(0, sys.argv[1])
from hammer import Hammer
users, duration, warm = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
Hammer.host = sys.argv[5]
env = Environment(user_classes=[Hammer])
runner = env.create_local_runner()
runner.start(users, spawn_rate=users)
time.sleep(warm)
n0, t0, c0 = env.stats.total.num_requests, time.monotonic(), time.process_time()
time.sleep(duration - warm)
n1, t1, c1 = env.stats.total.num_requests, time.monotonic(), time.process_time()
runner.quit()
print((n1 - n0) / (t1 - t0), (n1 - n0) / (c1 - c0))
"""


def split_cores() -> tuple[set[int], set[int]] | None:
    """(the generator's cores, the target server's cores) when there are two or more: a capacity figure is
    the generator's, not what is left of a core the target also needs. None on one core."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


@contextmanager
def server(*args: str, max_seconds: float = 120, cores: set[int] | None = None) -> Iterator[str]:
    def pin() -> None:
        if cores:
            os.sched_setaffinity(0, cores)

    proc = subprocess.Popen([PY, "-m", "faultdrill.load.localserver", "--port", "0", "--max-seconds",
                             str(max_seconds), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=pin if cores else None)
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="fd-bench-"))
    (d / "hammer.py").write_text(textwrap.dedent(HAMMER))
    return d


def drive(config: ChildConfig, log: Path) -> list[LoadSecond]:
    seconds: list[LoadSecond] = []
    with LoadProcess(duration=config.duration, host=config.host, journeys=config.journeys, log_path=log,
                     config=config) as load:
        load.start(seconds.append)
        load.finished.wait(config.duration + 30)
    return seconds


def bare_locust_rps(d: Path, host: str, users: int, duration: float, warm: float) -> tuple[float, float]:
    """(requests/s, requests per CPU-second of the Locust process)."""
    (d / "bare.py").write_text(BARE)
    out = subprocess.run([PY, str(d / "bare.py"), str(d), str(users), str(duration), str(warm), host],
                         capture_output=True, text=True, timeout=duration + 60, env=dict(os.environ))
    rps, per_cpu = out.stdout.strip().splitlines()[-1].split()
    return float(rps), float(per_cpu)


def total(seconds: list[LoadSecond], lo: float = 0, hi: float = 1e9) -> RequestStats:
    out = RequestStats()
    for s in seconds:
        if lo <= s.t < hi:
            out.add(s.total())
    return out


def now() -> float:
    return time.monotonic()
