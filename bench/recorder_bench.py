"""How much CPU does the recorder cost? (goal: < 3 % of one core with 6 services at 1 s sampling)

Starts a stack of six services plus Toxiproxy (faultdrill's compatible server) in Docker:
four services that hold TCP connections (two of them through the two proxies), one PostgreSQL
(``docker/postgres``, probed with ``postgres:``) and one serving a ~100-sample Prometheus page
(``metrics:``). Every sampler runs: connections and resources for 7 containers, app metrics, the DB
probe and proxies. The recorder runs for ``--seconds``; this process's CPU time over that span
(``resource.getrusage``: user + system, every thread) is the recorder's cost, as the drill would run
it (the drill's own main thread idles meanwhile). Per-sampler CPU is each sampler thread's own time.

    .venv/bin/python bench/recorder_bench.py [--seconds 60] [--interval 1.0]

Needs Docker; removes everything it starts (label ``faultdrill.run=test-bench-recorder-…``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import docker
from faultdrill.clock import RunClock
from faultdrill.recorder.sampling import recorder_for
from faultdrill.scenario.model import Scenario
from faultdrill.stack.images import ensure_base
from faultdrill.stack.stack import DockerStack

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import os, socket, threading, time
def serve():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8000)); s.listen(256); held = []
    for _ in range(1000):
        held.append(s.accept()[0])
threading.Thread(target=serve, daemon=True).start()
held = []
if os.environ.get("PEER"):
    host, port = os.environ["PEER"].rsplit(":", 1)
    for _ in range(int(os.environ.get("PEER_CONNS", "5"))):
        for attempt in range(100):
            try:
                held.append(socket.create_connection((host, int(port)), timeout=2)); break
            except OSError:
                time.sleep(0.1)
time.sleep(3600)
"""

METRICS_SERVER = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
body = os.environ["METRICS_TEXT"].encode()
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def metrics_text() -> str:
    lines = []
    for i in range(20):
        lines += [f"# TYPE app_gauge_{i} gauge", f'app_gauge_{i}{{pool="main"}} {i * 1.5}']
        lines += [f"# TYPE app_requests_{i}_total counter",
                  f'app_requests_{i}_total{{method="GET",code="200"}} {i * 100}',
                  f'app_requests_{i}_total{{method="POST",code="500"}} {i}']
    for i in range(5):
        lines.append(f"# TYPE app_latency_{i}_seconds histogram")
        lines += [f'app_latency_{i}_seconds_bucket{{le="{le}"}} {n}' for le, n in (("0.1", 5), ("1", 9), ("+Inf", 10))]
        lines += [f"app_latency_{i}_seconds_count 10", f"app_latency_{i}_seconds_sum 3.5"]
    return "\n".join(lines) + "\n"


def scenario(base_image: str, interval: float) -> Scenario:
    holder = {"image": base_image, "command": ["python3", "-c", HOLDER], "health": {"tcp": 8000, "timeout": 30}}
    return Scenario.model_validate({
        "name": "recorder-bench",
        "stack": {"services": {
            "db": {"build": "docker/postgres", "ports": [5432], "postgres": {},
                   "health": {"cmd": ["pg_isready", "-q", "-h", "127.0.0.1"], "timeout": 60}},
            "mail": holder,
            "api": {**holder, "ports": [8000]},
            "web": {**holder, "ports": [8000], "depends_on": ["mail", "db"],
                    "env": {"PEER": "${proxy.mail}", "PEER_CONNS": "20"}},
            "worker": {**holder, "depends_on": ["db"], "env": {"PEER": "${proxy.db}", "PEER_CONNS": "10"}},
            "metrics": {"image": base_image, "command": ["python3", "-c", METRICS_SERVER], "ports": [8000],
                        "env": {"METRICS_TEXT": metrics_text()}, "metrics": {"path": "/metrics"},
                        "health": {"http": "/metrics", "timeout": 30}},
        }},
        "proxies": {"db": {"upstream": "db:5432"}, "mail": {"upstream": "mail:8000"}},
        "toxiproxy": {"server": "builtin"},
        "load": {"journeys": "builtin:smoke", "host": "http://127.0.0.1:1", "shape": [{"until": "5s", "users": 1}]},
        "record": {"interval": interval},
    })


def host_tcp() -> str:
    """The host's TCP socket counts: the connections sampler's kernel cost grows with them (see sockdiag)."""
    try:
        line = next(l for l in Path("/proc/net/sockstat").read_text().splitlines() if l.startswith("TCP:"))
    except (OSError, StopIteration):
        return "TCP: unknown"
    return line.replace("TCP:", "TCP sockets:").strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=300)
    base = ensure_base(client, print)
    sc = scenario(base, args.interval)
    run_id = f"test-bench-recorder-{os.getpid()}"
    logged: list[str] = []
    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp, \
            DockerStack(client, sc, ROOT, run_id, print) as stack:
        rows_by_file: dict[str, int] = defaultdict(int)

        def on_rows(name: str, t: float, rows: list) -> None:
            rows_by_file[name] += len(rows)

        clock = RunClock()
        usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        with recorder_for(stack, sc.record, client, clock, Path(tmp), on_rows=on_rows, log=logged.append) as rec:
            time.sleep(args.seconds)
            per_sampler = rec.stats()
        usage1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        files = {p.name: p.stat().st_size for p in Path(tmp).glob("*.csv")}
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    wall = wall1 - wall0

    print(f"\nrecorder CPU over {wall:.1f} s, interval {args.interval:g} s, "
          f"{len(sc.stack.services)} services + toxiproxy; host {host_tcp()}\n")
    print(f"{'sampler':28} {'samples':>8} {'fail':>5} {'cpu s':>8} {'% core':>7}")
    for row in per_sampler:
        pct = 100 * float(row["cpu_s"]) / wall  # type: ignore[arg-type]
        print(f"{row['sampler']:28} {row['samples']:>8} {row['failures']:>5} {row['cpu_s']:>8.3f} {pct:>6.2f}%")
    print(f"{'(sampler threads, total)':28} {'':>8} {'':>5} {sum(float(r['cpu_s']) for r in per_sampler):>8.3f}")  # type: ignore[arg-type]
    print(f"{'PROCESS (all threads)':28} {'':>8} {'':>5} {cpu:>8.3f} {100 * cpu / wall:>6.2f}%   goal < 3%")
    print("\nfiles: " + ", ".join(f"{name} {size / 1024:.0f} KiB ({rows_by_file[name[:-4]]} rows)"
                                  for name, size in sorted(files.items())))
    if logged:
        print("\nrecorder log:\n  " + "\n  ".join(logged))
    return 0 if 100 * cpu / wall < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
