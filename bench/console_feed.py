"""The web console's cost to a drill: building one frame a second, and serving late joiners.

A synthetic 10-minute game day (load seconds with 60 requests each, three services sampled every
second, one hidden fault active half the time) goes through the console's feed as the drill would
hand it over; each second's frame is timed. Then 50 viewers join at once at the end and read the
whole run (the catch-up a late responder gets) from a real console server on 127.0.0.1.

Goals: a frame in under 20 ms (the feed thread takes under 2 % of a core at one frame a second),
50 late joiners all caught up within 10 s. Run: ``PYTHONPATH=src .venv/bin/python bench/console_feed.py``.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from tempfile import TemporaryDirectory

from figures import DEFAULT_ROUNDS, Figure, at_most, report

from faultdrill.console.access import Access, Role, host_names
from faultdrill.console.feed import ConsoleFeed, LiveCharts, LiveStatus
from faultdrill.console.redact import FaultInfo
from faultdrill.console.server import ConsoleServer
from faultdrill.histograms import LoadSecond, RequestStats

SECONDS = 600
VIEWERS = 50


def load_second(t: int, rng: random.Random, slow: bool) -> LoadSecond:
    stats = RequestStats()
    for _ in range(60):
        stats.record(rng.uniform(400, 600) if slow else rng.uniform(3, 12))
    return LoadSecond(t, 10, {"GET /": stats})


def samples(rng: random.Random) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for service in ("web", "backend", "db"):
        out.update({f"resources.{service}.cpu_pct": rng.uniform(1, 40), f"resources.{service}.mem_bytes": 5e7,
                    f"resources.{service}.mem_limit_bytes": 5e8, f"resources.{service}.pids": 11.0,
                    f"resources.{service}.pids_limit": 256.0,
                    f"connections.{service}.inbound.ESTABLISHED": float(rng.randint(5, 30))})
    return out


def one_round(events: Path) -> tuple[list[float], int, float]:
    rng = random.Random(7)
    clock = [0.0]

    def status() -> LiveStatus:
        active = SECONDS // 4 <= clock[0] < 3 * SECONDS // 4
        fault = FaultInfo(1, "quiet drain", "hidden fault #1", "toxic", "backend", True, True, active,
                          SECONDS / 4 if clock[0] >= SECONDS / 4 else None, None, None, None)
        return LiveStatus(clock[0], SECONDS, False, "running", [fault],
                          {"web": {"connections": 20.0, "pids": 11.0, "cpu_pct": 3.0}}, [])

    feed = ConsoleFeed(status, events, LiveCharts("bench", {}, 1.0))
    build_ms = []
    for t in range(SECONDS):
        clock[0] = t + 1.0
        feed.add_second(load_second(t, rng, SECONDS // 4 <= t < 3 * SECONDS // 4))
        feed.add_samples(t + 1.0, samples(rng))
        start = time.perf_counter()
        feed.frame()
        build_ms.append((time.perf_counter() - start) * 1000)
    feed.log.close()
    size = sum(len(data) for _, data in feed.log.since(Role.RESPONDER, 0, 0)[0])

    def submit(command: object) -> Future[dict[str, object]]:
        raise RuntimeError("no commands in this benchmark")

    server = ConsoleServer(Access(frozenset()), feed.log, submit, {}, b"", "127.0.0.1", 0)  # type: ignore[arg-type]
    server.access = access = Access(host_names("127.0.0.1", server.port))
    done: list[float] = []
    with server:
        def viewer() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.request("GET", f"/api/stream?token={access.responder_token}",
                         headers={"Host": f"127.0.0.1:{server.port}"})
            frames = 0
            resp = conn.getresponse()
            for line in resp.fp:
                frames += line.startswith(b"id: ")
                if line.startswith(b"event: end"):
                    break
            if frames == SECONDS:
                done.append(time.perf_counter())
            conn.close()

        start = time.perf_counter()
        threads = [threading.Thread(target=viewer) for _ in range(VIEWERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    caught_up = (max(done) - start) if len(done) == VIEWERS else float("inf")
    return build_ms, size, caught_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    median = Figure("frame build, median", "ms", "< 20 ms", at_most(20.0))
    p99 = Figure("frame build, p99", "ms")
    size = Figure(f"whole-run catch-up after {SECONDS} s (responder)", "MB")
    late = Figure(f"{VIEWERS} late joiners all caught up", "s", "< 10 s", at_most(10.0))
    for _ in range(args.rounds):
        with TemporaryDirectory() as tmp:
            events = Path(tmp) / "events.jsonl"
            events.write_text("")
            build_ms, total, caught_up = one_round(events)
        median.add(statistics.median(build_ms))
        p99.add(sorted(build_ms)[int(len(build_ms) * 0.99)])
        size.add(total / 1e6)
        late.add(caught_up)
    return report([median, p99, size, late], f"web console feed: {SECONDS} s game day, {VIEWERS} late viewers")


if __name__ == "__main__":
    sys.exit(main())
