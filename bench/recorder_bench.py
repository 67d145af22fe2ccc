"""How much CPU does the recorder cost? (goal: < 3 % of one core with 6 services at 1 s sampling)

Starts a stack of six services plus Toxiproxy (faultdrill's compatible server) in Docker:
four services that hold TCP connections (two of them through the two proxies), one PostgreSQL
(``docker/postgres``, probed with ``postgres:``) and one serving a ~100-sample Prometheus page
(``metrics:``). Every sampler runs: connections and resources for 7 containers, app metrics, the DB
probe and proxies. The recorder runs for ``--seconds``; this process's CPU time over that span
(``resource.getrusage``: user + system, every thread) is the recorder's cost, as the drill would run
it (the drill's own main thread idles meanwhile). Per-sampler CPU is each sampler thread's own time.
The Docker engine works for the recorder too (stats streams, exec calls): its CPU (dockerd,
containerd, the container shims and the children they reaped) is measured with the stack idle and
with the recorder running, alternating round by round; the difference is added to the recorder's cost.

    .venv/bin/python bench/recorder_bench.py [--seconds 20] [--interval 1.0] [--rounds 3]

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

from figures import DEFAULT_ROUNDS, Figure, at_most, report

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
        line = next(ln for ln in Path("/proc/net/sockstat").read_text().splitlines() if ln.startswith("TCP:"))
    except (OSError, StopIteration):
        return "TCP: unknown"
    return line.replace("TCP:", "TCP sockets:").strip()


def daemon_cpu_s() -> float:
    """CPU seconds of the Docker engine: dockerd, containerd and every container shim, with the
    reaped children they waited for (the ``runc exec`` of each exec call, the stats collectors)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if comm not in ("dockerd", "containerd") and not comm.startswith("containerd-shim"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per side per round")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args(argv)
    client = docker.from_env(timeout=300)
    base = ensure_base(client, print)
    sc = scenario(base, args.interval)
    run_id = f"test-bench-recorder-{os.getpid()}"
    logged: list[str] = []
    own = Figure("recorder process CPU", "% core", "< 3 %", at_most(3.0))
    daemon_idle = Figure("Docker engine CPU, stack idle (no recorder)", "% core")
    daemon_rec = Figure("Docker engine CPU, recorder running", "% core")
    total = Figure("recorder cost: own + engine's extra", "% core", "< 5 %", at_most(5.0))
    per_sampler: list[dict[str, object]] = []
    files: dict[str, int] = {}
    rows_by_file: dict[str, int] = defaultdict(int)

    def on_rows(name: str, t: float, rows: list) -> None:  # type: ignore[type-arg]
        rows_by_file[name] += len(rows)

    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp, \
            DockerStack(client, sc, ROOT, run_id, print) as stack:
        for r in range(args.rounds):
            for side in (("idle", "recording") if r % 2 == 0 else ("recording", "idle")):
                own0, daemon0, wall0 = own_cpu_s(), daemon_cpu_s(), time.monotonic()
                if side == "idle":
                    time.sleep(args.seconds)
                    wall = time.monotonic() - wall0
                    daemon_idle.add(100 * (daemon_cpu_s() - daemon0) / wall)
                    continue
                out = Path(tmp) / f"round{r}"
                out.mkdir()
                with recorder_for(stack, sc.record, client, RunClock(), out, on_rows=on_rows,
                                  log=logged.append) as rec:
                    time.sleep(args.seconds)
                    per_sampler = rec.stats()
                wall = time.monotonic() - wall0
                own.add(100 * (own_cpu_s() - own0) / wall)
                daemon_rec.add(100 * (daemon_cpu_s() - daemon0) / wall)
                files = {p.name: p.stat().st_size for p in out.glob("*.csv")}
            total.add(own.values[-1] + max(0.0, daemon_rec.values[-1] - daemon_idle.values[-1]))
            print(f"round {r + 1}: recorder {own.values[-1]:.2f} % core, engine idle {daemon_idle.values[-1]:.2f} %"
                  f" vs recording {daemon_rec.values[-1]:.2f} %", flush=True)

    print(f"\nlast round, interval {args.interval:g} s, {len(sc.stack.services)} services + toxiproxy; "
          f"host {host_tcp()}\n")
    print(f"{'sampler':28} {'samples':>8} {'fail':>5} {'cpu s':>8} {'% core':>7}")
    for row in per_sampler:
        pct = 100 * float(row["cpu_s"]) / args.seconds  # type: ignore[arg-type]
        print(f"{row['sampler']:28} {row['samples']:>8} {row['failures']:>5} {row['cpu_s']:>8.3f} {pct:>6.2f}%")
    print("\nfiles: " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sorted(files.items())))
    if logged:
        print("\nrecorder log:\n  " + "\n  ".join(logged))
    return report([own, daemon_idle, daemon_rec, total],
                  f"recorder overhead, {args.seconds:g} s per side, {args.rounds} alternating rounds")


if __name__ == "__main__":
    sys.exit(main())
