"""The recorder's samplers on real containers: connections, resources, proxies, and a SIGKILLed recorder."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

import docker
from faultdrill.clock import RunClock
from faultdrill.recorder.samplers.connections import ConnectionsSampler
from faultdrill.recorder.samplers.resources import ResourcesSampler, memory_bytes
from faultdrill.recorder.sampling import SamplingRecorder, build_samplers
from faultdrill.scenario.model import Scenario
from faultdrill.stack.labels import run_labels
from faultdrill.stack.stack import DockerStack
from tests.helpers import BUSY_SLACK_S, ROOT, wait_for

pytestmark = pytest.mark.docker

# Listens on 8000 and holds every connection it accepts; with PEER=host:port it also opens and holds
# PEER_CONNS connections to it. Every loop is bounded.
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
    for _ in range(int(os.environ.get("PEER_CONNS", "3"))):
        for attempt in range(100):
            try:
                held.append(socket.create_connection((host, int(port)), timeout=2)); break
            except OSError:
                time.sleep(0.1)
time.sleep(600)
"""


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def count(rows: list[dict[str, str]], **match: str) -> list[tuple[float, int]]:
    return [(float(r["t"]), int(r["count"])) for r in rows if all(r[k] == v for k, v in match.items())]


def scenario(base_image: str) -> Scenario:
    holder = {"image": base_image, "command": ["python3", "-c", HOLDER], "health": {"tcp": 8000, "timeout": 30}}
    return Scenario.model_validate({
        "name": "recorder-test",
        "stack": {"services": {
            "backend": holder,
            "web": {**holder, "ports": [8000], "depends_on": ["backend"],
                    "env": {"PEER": "${proxy.backend}", "PEER_CONNS": "3"}},
        }},
        "proxies": {"backend": {"upstream": "backend:8000"}},
        "toxiproxy": {"server": "builtin"},
        "load": {"journeys": "builtin:smoke", "host": "http://127.0.0.1:1", "shape": [{"until": "5s", "users": 1}]},
        "record": {"interval": 0.5},
    })


def test_a_stack_without_metrics_or_db_records_connections_resources_and_proxies(base_image: str,
                                                                                   tmp_path: Path) -> None:
    client = docker.from_env()
    run_id = f"test-recorder-{os.getpid()}"
    sc = scenario(base_image)
    logged: list[str] = []
    with DockerStack(client, sc, ROOT, run_id) as stack:
        samplers = build_samplers(stack, sc.record, client)
        assert sorted({s.name for s in samplers}) == ["connections", "proxies", "resources"]
        clock = RunClock()
        with SamplingRecorder(samplers, clock, tmp_path, sc.record.interval, log=logged.append):
            host_port = int(stack.info.services["web"]["ports"]["8000"])  # type: ignore[union-attr]
            conns = []
            try:
                opened_at = clock.now()
                for _ in range(20):  # 20 idle connections from the host
                    conns.append(socket.create_connection(("127.0.0.1", host_port), timeout=5))
                # a tick of 0.5 s or two; a busy machine may hold a sample back a few seconds
                soon = 1.0 + BUSY_SLACK_S
                assert wait_for(lambda: any(t >= opened_at and n == 20 for t, n in count(
                    read_csv(tmp_path / "connections.csv"), service="web", direction="inbound", endpoint="8000",
                    state="ESTABLISHED")), timeout=soon), f"20 ESTABLISHED inbound on web:8000 within {soon:g} s"
            finally:
                closed_at = clock.now()
                for conn in conns:
                    conn.close()
            # the curve drops to 0 (a row, not a gap); the server never closes, so they wait in CLOSE_WAIT
            assert wait_for(lambda: any(t > closed_at and n == 0 for t, n in count(
                read_csv(tmp_path / "connections.csv"), service="web", direction="inbound", endpoint="8000",
                state="ESTABLISHED")), timeout=soon)
            assert wait_for(lambda: len(read_csv(tmp_path / "proxies.csv")) >= 2, timeout=soon)
            assert wait_for(lambda: any(r["cpu_pct"] for r in read_csv(tmp_path / "resources.csv")
                                        if r["service"] == "web"), timeout=soon)  # needs 2 Docker samples
    rows = read_csv(tmp_path / "connections.csv")
    # each container's last reading (its sampler's latest tick: a slow one on a busy machine may be a tick
    # or more behind the others)
    last_t = {r["service"]: float(r["t"]) for r in rows}
    final = {(r["service"], r["direction"], r["endpoint"], r["state"]): int(r["count"])
             for r in rows if float(r["t"]) == last_t[r["service"]]}
    listen = str(stack.addresses.proxies["backend"].listen_port)  # type: ignore[union-attr]
    assert final[("web", "outbound", "proxy.backend", "ESTABLISHED")] == 3  # peer named by the proxy
    assert final[("toxiproxy", "inbound", listen, "ESTABLISHED")] == 3
    assert final[("toxiproxy", "outbound", "backend", "ESTABLISHED")] == 3  # peer named by the service
    assert final[("backend", "inbound", "8000", "ESTABLISHED")] == 3
    assert final[("web", "inbound", "8000", "CLOSE_WAIT")] == 20
    for service in ("web", "backend"):  # Docker's DNS listener (127.0.0.11:<random>) is not theirs
        assert {r["endpoint"] for r in rows if r["service"] == service and r["direction"] == "inbound"} == {"8000"}

    proxies = read_csv(tmp_path / "proxies.csv")
    assert proxies[-1]["proxy"] == "backend" and proxies[-1]["enabled"] == "1"
    assert proxies[-1]["connections"] == "3"  # from the toxiproxy netns: this server has no /metrics on

    resources = read_csv(tmp_path / "resources.csv")
    assert {r["service"] for r in resources} == {"web", "backend", "toxiproxy"}
    web = [r for r in resources if r["service"] == "web" and r["cpu_pct"]]
    assert web and int(web[-1]["mem_bytes"]) > 1_000_000 and int(web[-1]["pids"]) >= 1
    assert int(web[-1]["net_rx_bytes"]) > 0 and web[-1]["restarts"] == "0" and web[-1]["oom_killed"] == "0"
    assert not (tmp_path / "app_metrics.csv").exists() and not (tmp_path / "db.csv").exists()
    assert logged == []


def test_a_thread_pileup_shows_pids_rising_to_the_limit(base_image: str, tmp_path: Path) -> None:
    client = docker.from_env()
    pileup = ("import os, threading, time\n"
              "for _ in range(1200):\n"  # waits (up to 60 s) for the test to say when
              "    if os.path.exists('/tmp/go'):\n        break\n    time.sleep(0.05)\n"
              "held = []\n"
              "for i in range(120):\n"
              "    try:\n"
              "        t = threading.Thread(target=time.sleep, args=(300,), daemon=True); t.start(); held.append(t)\n"
              "    except RuntimeError:\n"
              "        pass\n"
              "    time.sleep(0.04)\n"
              "time.sleep(300)\n")
    container = client.containers.run(base_image, ["python3", "-c", pileup], detach=True, pids_limit=64,
                                      labels=run_labels(f"test-recorder-pids-{os.getpid()}", "test"))
    try:
        sampler = ResourcesSampler({"app": container}, client)
        with SamplingRecorder([sampler], RunClock(), tmp_path, 0.5):
            # the pile-up starts once a row shows the one process (not after a sleep a busy machine may outlast)
            first = wait_for(lambda: any(r["pids"] for r in read_csv(tmp_path / "resources.csv")), timeout=30)
            container.exec_run(["touch", "/tmp/go"])
            assert first, read_csv(tmp_path / "resources.csv")
            assert wait_for(lambda: any(r["pids"] and int(r["pids"]) >= 60
                                        for r in read_csv(tmp_path / "resources.csv")), timeout=30)
    finally:
        container.remove(force=True)
    rows = [r for r in read_csv(tmp_path / "resources.csv") if r["pids"]]
    pids = [int(r["pids"]) for r in rows]
    assert pids[0] <= 5 and max(pids) <= 64  # rose from one process toward, never past, the limit
    assert all(r["pids_limit"] == "64" for r in rows)


BURNER = ("import time\n"
          "ballast = bytearray(80 * 1024 * 1024)\n"  # 80 MiB resident
          "for i in range(len(ballast) // 4096):\n    ballast[i * 4096] = 1\n"
          "end = time.monotonic() + 120\n"
          "while time.monotonic() < end:\n    pass\n")  # one core, busy, for at most two minutes


def test_a_local_engine_is_read_from_the_host_and_means_what_docker_stats_means(base_image: str,
                                                                                 tmp_path: Path) -> None:
    client = docker.from_env()
    container = client.containers.run(base_image, ["python3", "-c", BURNER], detach=True,
                                      labels=run_labels(f"test-recorder-host-{os.getpid()}", "test"))
    try:
        sampler = ResourcesSampler({"app": container}, client)
        assert sampler.sources == {"app": "host"}  # no stats stream: the engine does no work for it
        with SamplingRecorder([sampler], RunClock(), tmp_path, 0.5):
            assert wait_for(lambda: len([r for r in read_csv(tmp_path / "resources.csv") if r["cpu_pct"]]) >= 6,
                            timeout=30)
            docker_sample = client.api.stats(container.id, stream=False)
        rows = [r for r in read_csv(tmp_path / "resources.csv") if r["cpu_pct"]]
    finally:
        container.remove(force=True)
    cpu = sorted(float(r["cpu_pct"]) for r in rows)
    # one busy thread: a core at most (a busy test machine may give it less), never idle
    assert 25 <= cpu[len(cpu) // 2] <= 105, cpu
    mem = [int(r["mem_bytes"]) for r in rows if r["mem_bytes"]]
    docker_mem = memory_bytes(docker_sample)
    assert docker_mem and abs(mem[-1] - docker_mem) <= 0.1 * docker_mem, (mem[-1], docker_mem)
    assert mem[-1] >= 80 * 1024 * 1024
    assert all(r["pids"] == "1" for r in rows)


CRASHY = """
import sys, time, docker
from pathlib import Path
from faultdrill.clock import RunClock
from faultdrill.recorder.sampling import SamplingRecorder
from faultdrill.recorder.samplers.connections import ConnectionsSampler
from faultdrill.recorder.samplers.resources import ResourcesSampler
client = docker.from_env()
container = client.containers.get(sys.argv[1])
samplers = [ConnectionsSampler("app", container, lambda ip, port: f"{ip}:{port}"),
            ResourcesSampler({"app": container}, client)]
with SamplingRecorder(samplers, RunClock(), Path(sys.argv[2]), 0.2):
    print("recording", flush=True)
    time.sleep(60)
"""


def test_a_sigkilled_recorder_leaves_rows_up_to_the_kill(base_image: str, tmp_path: Path) -> None:
    client = docker.from_env()
    container = client.containers.run(base_image, ["python3", "-c", HOLDER], detach=True,
                                      labels=run_labels(f"test-recorder-kill-{os.getpid()}", "test"))
    proc = subprocess.Popen([sys.executable, "-c", CRASHY, container.id, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "recording"
        assert wait_for(lambda: len(read_csv(tmp_path / "resources.csv")) >= 5, timeout=10 + 3 * BUSY_SLACK_S)
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        container.remove(force=True)
    for name in ("connections", "resources"):
        with open(tmp_path / f"{name}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert all(len(row) == len(rows[0]) for row in rows), f"{name}.csv has a cut-short line"
        last_wall = datetime.fromisoformat(rows[-1][1]).timestamp()
        # rows go to the file as they are taken (every 0.2 s): the last is from just before the kill, give
        # or take a busy machine's late tick (a buffered writer loses seconds, and cuts a line short)
        assert killed_at - last_wall < 0.2 + BUSY_SLACK_S, \
            f"{name}.csv: last row {killed_at - last_wall:.2f}s before the kill"


def test_connections_read_three_ways_agree_and_follow_a_restart(base_image: str) -> None:
    client = docker.from_env()
    container = client.containers.run(base_image, ["python3", "-c", HOLDER], detach=True,
                                      ports={"8000/tcp": ("127.0.0.1", None)},
                                      labels=run_labels(f"test-recorder-exec-{os.getpid()}", "test"))
    conns = []
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
        sampler = ConnectionsSampler("app", container, lambda ip, p: f"{ip}:{p}", declared_ports=[8000])
        assert wait_for(lambda: any(s.state == "LISTEN" for s in sampler.reader.sockets()), timeout=10)
        for _ in range(5):
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))

        def established(rows: list[dict]) -> int:
            return sum(int(r["count"]) for r in rows if r["state"] == "ESTABLISHED" and r["endpoint"] == "8000")

        assert wait_for(lambda: established(sampler.sample()) == 5, timeout=5 + BUSY_SLACK_S)
        assert sampler.reader.via == "sock_diag"  # root here: the cheapest way
        via_proc = sampler.reader._from_proc(sampler.reader._pid)
        via_exec = sampler.reader._from_exec()  # what a remote engine would give
        for sockets in (via_proc, via_exec):
            assert sockets is not None
            assert sum(1 for s in sockets if s.local_port == 8000 and s.state == "ESTABLISHED") == 5
        for conn in conns:
            conn.close()
        conns = []
        container.restart(timeout=1)  # a new pid and a new netns: followed, not read as empty
        assert wait_for(lambda: any(s.state == "LISTEN" for s in sampler.reader.sockets()), timeout=10)
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])  # a new one
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert wait_for(lambda: established(sampler.sample()) == 1, timeout=5 + BUSY_SLACK_S)
    finally:
        for conn in conns:
            conn.close()
        container.remove(force=True)
