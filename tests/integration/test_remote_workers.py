"""Remote load workers for real: each worker a separate "host" (its own network namespace, joined to
the master by a bridge this test creates), one of them on a clock faked by Debian's ``faketime``.

Every worker loads a server on its own namespace's 127.0.0.1 (traffic never leaves the namespace);
the master listens on the bridge's address. Needs root, ip(8) and faketime
(``scripts/ensure-test-tools.sh``); marked ``hosts``: fails in CI when they are missing, skips elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from faultdrill.analysis.checks import judge
from faultdrill.analysis.windows import Window
from faultdrill.errors import InfraError
from faultdrill.histograms import LoadSecond
from faultdrill.load.config import ChildConfig
from faultdrill.load.localserver import LocalServer
from faultdrill.load.process import LoadProcess
from faultdrill.load.shape import Segment
from faultdrill.scenario.check_model import Check
from tests.helpers import BUSY_SLACK_S

pytestmark = [pytest.mark.xdist_group("remote-workers")]  # one bridge address: these tests take turns

TARGET_PORT = 18080  # inside each namespace: every host has its own 127.0.0.1
TOKEN = "test-token-for-this-run"
FAKE_SHIFT_S = 7.0


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


@dataclass
class Hosts:
    """A bridge with the master's address and one namespace per worker host."""

    tag: str
    master_ip: str
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, index: int, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(["ip", "netns", "exec", self.namespaces[index], *argv], stdout=fh, stderr=fh,
                                    stdin=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.procs.append(proc)
        return proc


@contextmanager
def hosts(count: int) -> Iterator[Hosts]:
    tag = f"fd{os.getpid() % 100000}"
    bridge = f"{tag}br"
    h = Hosts(tag, "10.213.77.1")
    try:
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{h.master_ip}/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        for i in range(count):
            ns, veth = f"{tag}n{i}", f"{tag}v{i}"
            sh("ip", "netns", "add", ns)
            h.namespaces.append(ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", bridge, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"10.213.77.{10 + i}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield h
    finally:
        for proc in h.procs:
            if proc.poll() is None:
                proc.kill()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for ns in h.namespaces:
            left = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in left:
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def master_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("10.213.77.1", 0))
        return int(s.getsockname()[1])


def remote_config(segments: list[Segment], duration: float, port: int) -> ChildConfig:
    return ChildConfig(t0=0.0, duration=duration, host=f"http://127.0.0.1:{TARGET_PORT}", journeys="builtin:smoke",
                       segments=segments, request_timeout=5.0, mode="open", workers=0, remote_workers=2,
                       remote_wait=45.0, listen_host="10.213.77.1", listen_port=port, token=TOKEN)


def start_targets(h: Hosts, tmp_path: Path) -> list[subprocess.Popen[bytes]]:
    servers = []
    for i in range(len(h.namespaces)):
        log = tmp_path / f"target{i}.log"
        servers.append(h.spawn(i, [sys.executable, "-m", "faultdrill.load.localserver", "--port", str(TARGET_PORT),
                                   "--max-seconds", "90"], log))
    return servers


def served(log: Path) -> int:
    """The request count a namespace's server wrote on its way out."""
    for line in log.read_text().splitlines():
        if line.startswith("{") and "requests" in line:
            return int(json.loads(line)["requests"])
    raise AssertionError(f"no count in {log}: {log.read_text()[-500:]}")


def start_worker(h: Hosts, i: int, port: int, tmp_path: Path, fake: bool = False) -> subprocess.Popen[bytes]:
    prefix = ["faketime", "-f", f"+{FAKE_SHIFT_S:g}s"] if fake else []
    return h.spawn(i, [*prefix, sys.executable, "-m", "faultdrill", "worker", "--master", f"10.213.77.1:{port}",
                       "--token", TOKEN, "--wait", "40"], tmp_path / f"worker{i}.log")


def drive(load: LoadProcess, seconds: list[LoadSecond], duration: float, kill: subprocess.Popen[bytes] | None = None,
          kill_at: float = 0.0) -> float:
    """Run the load; SIGKILL ``kill`` at ``kill_at`` s. When it was really killed, on the run clock (a busy
    machine may wake this thread late)."""
    t0 = time.monotonic()
    load.start(seconds.append, t0)
    killed_at = 0.0
    if kill is not None:
        time.sleep(max(0.0, t0 + kill_at - time.monotonic()))
        killed_at = time.monotonic() - t0  # the signal goes right after: never before this
        kill.send_signal(signal.SIGKILL)
    assert load.finished.wait(duration + 30)
    return killed_at


def measured(offset: float, expected: float, uncertainty: float, most: float = 0.25) -> bool:
    """An offset measure is right within what it says of itself (half its round trip), or 50 ms, whichever
    is more, and says it to well under the seconds it bins: a busy machine slows some round trips (and the
    measure says so). The join's is the best of 8 round trips; one during the run may be of one."""
    return uncertainty < most and abs(offset - expected) <= max(0.05, uncertainty + 0.005)


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(tmp_path.glob("*.log")))


@pytest.mark.hosts
def test_two_hosts_one_clock_shifted_merge_exactly(tmp_path: Path) -> None:
    step = [Segment(4, 30), Segment(8, 90)]  # a step at 4 s: shifted bins would move it
    with hosts(2) as h:
        targets = start_targets(h, tmp_path)
        port = master_port()
        workers = [start_worker(h, 0, port, tmp_path), start_worker(h, 1, port, tmp_path, fake=True)]
        seconds: list[LoadSecond] = []
        with LoadProcess(duration=8, host="", journeys="", log_path=tmp_path / "master.log",
                         config=remote_config(step, 8, port)) as load:
            drive(load, seconds, 8)
        assert load.error is None, load.error + logs(tmp_path)
        assert [w.wait(timeout=20) for w in workers] == [0, 0], logs(tmp_path)
        for target in targets:
            target.send_signal(signal.SIGTERM)
            target.wait(timeout=10)
        served_total = sum(served(tmp_path / f"target{i}.log") for i in range(2))

    # the same shape from one local process, for the curve to compare with
    reference: list[LoadSecond] = []
    with LocalServer() as server:
        single = ChildConfig(t0=0.0, duration=8, host=server.url, journeys="builtin:smoke", segments=step,
                             request_timeout=5.0, mode="open")
        with LoadProcess(duration=8, host=server.url, journeys="", log_path=tmp_path / "single.log",
                         config=single) as one:
            drive(one, reference, 8)

    counts = [s.total().count for s in seconds]
    single_counts = [s.total().count for s in reference]
    # merged exactly: every request both targets served is in exactly one merged second
    assert sum(counts) == served_total == 4 * 30 + 4 * 90 == sum(single_counts), (counts, served_total)
    assert all(s.workers == 2 for s in seconds if s.total().count), [(s.t, s.workers) for s in seconds]
    # the same curve: the step lands in the same second, each second within a few requests of one process
    for t in range(8):
        assert abs(counts[t] - single_counts[t]) <= 0.15 * single_counts[t], (t, counts, single_counts)
    assert max(counts[:4]) < 40 and min(counts[4:8]) > 75, counts
    # the faked clock was measured: offset = master's monotonic - the worker's (faketime moves CLOCK_MONOTONIC
    # onto its faked wall clock, shifted by FAKE_SHIFT_S)
    expected = time.monotonic() - (time.time() + FAKE_SHIFT_S)
    report = sorted(load.workers_report, key=lambda w: w["clock"]["offset_s"])  # whichever joined first
    shifted, plain = report
    assert all(w["remote"] for w in report), report
    assert measured(plain["clock"]["offset_s"], 0.0, plain["clock"]["uncertainty_s"]), report
    assert measured(shifted["clock"]["offset_s"], expected, shifted["clock"]["uncertainty_s"]), (report, expected)
    during = shifted["clock_during_run"]
    assert measured(during["max_offset_s"], expected, during["worst_uncertainty_s"], most=0.5), (report, expected)
    assert not load.lost_workers


@pytest.mark.hosts
def test_a_worker_killed_mid_run_is_a_fact(tmp_path: Path) -> None:
    flat = [Segment(9, 40)]
    with hosts(2) as h:
        start_targets(h, tmp_path)
        port = master_port()
        workers = [start_worker(h, 0, port, tmp_path), start_worker(h, 1, port, tmp_path)]
        seconds: list[LoadSecond] = []
        with LoadProcess(duration=9, host="", journeys="", log_path=tmp_path / "master.log",
                         config=remote_config(flat, 9, port)) as load:
            killed_at = drive(load, seconds, 9, kill=workers[1], kill_at=3.5)
        assert load.error is None, load.error + logs(tmp_path)
        assert workers[0].wait(timeout=20) == 0, logs(tmp_path)
        assert workers[1].wait(timeout=5) == -signal.SIGKILL
        namespaces = list(h.namespaces)
    # nothing left running: both namespaces are gone with everything in them
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in namespaces), listed

    lost = load.lost_workers
    assert len(lost) == 1, load.worker_events  # the killed one (indices go by join order)
    # noticed within LOST_AFTER_S (3 s) of its last record (one a second), give or take a busy machine
    assert killed_at <= lost[0]["t"] <= killed_at + 3.0 + 1.0 + BUSY_SLACK_S, (lost, killed_at)
    ratios = {s.t: s.delivered_ratio for s in seconds}
    whole, halved = range(math.floor(killed_at)), range(math.ceil(killed_at), 9)  # before and after the kill
    assert len(whole) >= 3 and len(halved) >= 2, killed_at
    assert all(ratios[t] is not None and ratios[t] >= 0.95 for t in whole), ratios
    assert all(ratios[t] is not None and ratios[t] <= 0.6 for t in halved), ratios  # half the arrivals
    check = Check.model_validate({"name": "delivered", "metric": "load_delivered_ratio", "min": 0.9})
    result = judge(check, seconds, {"run": Window("run", ((0.0, 9.0),), "run")})
    share = (killed_at + (9 - killed_at) / 2) / 9  # whole until the kill, half after (0.69 at 3.5 s)
    assert not result.passed and result.value is not None and abs(result.value - share) < 0.1, (result, share)


def free_local_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


OLDER = "import faultdrill\nfaultdrill.__version__ = '0.0.9'\n"  # a worker machine with another release


@pytest.mark.parametrize("token, host, site, said, wait", [
    ("guess", f"http://127.0.0.1:{TARGET_PORT}", "", "wrong token", 6.0),
    (TOKEN, f"http://127.0.0.1:{TARGET_PORT}", OLDER, "version mismatch: this worker runs faultdrill 0.0.9", 30.0),
    (TOKEN, "http://192.0.2.10:80", "", "not loopback and not in load.allow_hosts (checked on this worker too)", 30.0),
], ids=["token", "version", "allow_hosts"])
def test_a_worker_that_may_not_take_part_says_why_and_the_drill_stops(tmp_path: Path, token: str, host: str,
                                                                      site: str, said: str, wait: float) -> None:
    """On 127.0.0.1, no namespaces: a wrong token or another faultdrill version is refused by the master; a
    target the drill does not allow is refused by the worker itself (nothing is sent). A worker that showed
    the token stops the drill's wait at once; a wrong token cannot (anyone could send one): the drill waits
    its whole ``wait`` for the real worker, then says what it turned away."""
    env = dict(os.environ)
    if site:  # the worker's interpreter loads it first (sitecustomize): its faultdrill reports another version
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "sitecustomize.py").write_text(site)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "site"), env.get("PYTHONPATH")]))
    port = free_local_port()
    config = ChildConfig(t0=0.0, duration=5, host=host, journeys="builtin:smoke", segments=[Segment(5, 10)],
                         request_timeout=5.0, mode="open", workers=0, remote_workers=1, remote_wait=wait,
                         listen_host="127.0.0.1", listen_port=port, token=TOKEN)
    worker = subprocess.Popen([sys.executable, "-m", "faultdrill", "worker", "--master", f"127.0.0.1:{port}",
                               "--token", token, "--wait", "20"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        started = time.monotonic()
        with pytest.raises(InfraError) as err, \
                LoadProcess(duration=5, host="", journeys="", log_path=tmp_path / "master.log", config=config):
            pass
        waited = time.monotonic() - started
        assert waited < 25 if wait > 25 else waited >= wait  # at once, or the whole wait for a stranger
        assert said.split(" (")[0] in str(err.value), str(err.value)
        _, stderr = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=5)
    assert worker.returncode == 2 and said in stderr, stderr


STRANGER = """
import sys
from gevent import monkey; monkey.patch_all()
from locust import HttpUser, task
from locust.env import Environment

class Anyone(HttpUser):
    @task
    def home(self):
        self.client.get("/")

env = Environment(user_classes=[Anyone])
runner = env.create_worker_runner(sys.argv[1], int(sys.argv[2]))  # plain Locust: no ticket; retries its connect
print("connected as a worker", flush=True)  # never reached while the master ignores it
"""


def test_a_plain_locust_worker_without_a_ticket_never_joins(tmp_path: Path) -> None:
    """Locust's transport has no authentication of its own: a worker that did not join with the token is
    ignored by the master's door (and told to quit); it is never acknowledged nor given load, and the drill
    runs with the worker that did join."""
    port = free_local_port()
    with LocalServer() as server:
        config = ChildConfig(t0=0.0, duration=4, host=server.url, journeys="builtin:smoke", segments=[Segment(4, 20)],
                             request_timeout=5.0, mode="open", workers=0, remote_workers=1, remote_wait=30.0,
                             listen_host="127.0.0.1", listen_port=port, token=TOKEN)
        stranger = subprocess.Popen([sys.executable, "-c", STRANGER, "127.0.0.1", str(port)],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        worker = subprocess.Popen([sys.executable, "-m", "faultdrill", "worker", "--master", f"127.0.0.1:{port}",
                                   "--token", TOKEN, "--wait", "20"], stderr=subprocess.DEVNULL)
        seconds: list[LoadSecond] = []
        try:
            with LoadProcess(duration=4, host="", journeys="", log_path=tmp_path / "master.log",
                             config=config) as load:
                drive(load, seconds, 4)
            assert worker.wait(timeout=20) == 0
        finally:
            for proc in (stranger, worker):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=5)
    said, _ = stranger.communicate(timeout=5)
    assert "connected as a worker" not in said, said
    assert sum(s.total().count for s in seconds) == 80 == server.stats.requests  # the joined worker's alone
    assert all(s.workers == 1 for s in seconds if s.total().count)
    assert "did not join this drill" in (tmp_path / "master.log").read_text()
