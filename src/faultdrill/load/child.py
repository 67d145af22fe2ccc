"""The load generator's own process: Locust as a library, gevent-patched, away from the orchestrator.

Protocol, in two phases so that second 0 of the run clock is a full second of load:

1. prepare — one JSON config line on stdin (``config.ChildConfig``). The child builds everything
   that takes time (Locust imported, user classes, runner; in distributed mode the workers started
   and connected), then writes ``{"type": "prepared"}``.
2. start — the parent starts its run clock and sends ``{"type": "start", "t0": <origin>}`` on stdin
   (kept open for it). The child puts every process on that clock (workers get the same ``t0``
   through the master, before any user is dispatched), starts the load and writes
   ``{"type": "started"}``, then one ``{"type": "second", ...}`` per second of the run clock (see
   ``LoadSecond.to_wire``), then ``{"type": "done"}``. Failures: ``{"type": "error", "message": ...}``.

stdout carries the protocol only: anything else printed (a journey's ``print``) goes to stderr,
with Locust's own log. The run clock is shared with the parent: both use CLOCK_MONOTONIC.
Requests are counted in the second they complete; open-model sends in their intended second.

Roles:

* ``local`` — one process: closed model (Locust's LocalRunner with the run-clock shape) or open
  model (``openloop.OpenLoop``).
* ``master`` (``workers`` > 1) — Locust's MasterRunner on 127.0.0.1, N local worker processes
  started from here. Workers bucket by the same run clock and send each second to the master
  (a Locust custom message); the master merges a second exactly once every worker has sent it
  (or a worker is late by more than ``MERGE_GRACE_S``, which is reported) and streams it.
* ``worker`` — Locust's WorkerRunner; closed model: users dispatched by the master; open model:
  every ``workers``-th arrival of the one global schedule.

Every process stops by itself when the shape ends, on SIGTERM/SIGINT, when its parent dies (or
closes stdin before the start), when no start comes within ``start_timeout`` of being prepared,
or at its hard deadline (``ChildConfig.hard_deadline``) whatever happens.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402 - gevent's (patched above): waiting for the parent never blocks the hub
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import LoadTestShape  # noqa: E402
from locust.env import Environment  # noqa: E402

from faultdrill.histograms import LoadSecond  # noqa: E402
from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.failures import classify_failure  # noqa: E402 - re-exported (the original home)
from faultdrill.load.netcount import ConnTracker  # noqa: E402
from faultdrill.load.recording import Buckets, CpuMeter, Merger  # noqa: E402
from faultdrill.load.shape import closed_target  # noqa: E402
from faultdrill.load.users import ProfileSpec, load_user_classes, profiled_classes  # noqa: E402

log = logging.getLogger("faultdrill.load")

EMIT_AFTER_S = 0.02  # a second is emitted this long after it ends (late completions land in it)
CONNECT_TIMEOUT_S = 60.0  # the master waits this long for its workers to connect
SECOND_MSG, DONE_MSG, START_MSG = "fd_second", "fd_done", "fd_start"


def make_shape(config_of: Callable[[], ChildConfig]) -> LoadTestShape:
    class RunClockShape(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            config = config_of()
            return closed_target(config.segments, time.monotonic() - config.t0, config.duration)

    return RunClockShape()  # type: ignore[no-untyped-call]  # Locust's LoadTestShape.__init__ is unannotated


def emit(message: dict[str, Any]) -> None:
    """One protocol line to the parent (``sys.__stdout__``: ``main`` sends other output to stderr)."""
    out = sys.__stdout__
    assert out is not None
    out.write(json.dumps(message, separators=(",", ":")) + "\n")
    out.flush()


class ParentLink:
    """Lines from the parent on stdin, read without blocking the gevent hub (heartbeats go on)."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self.buffer = b""

    def read_line(self, timeout: float, give_up: Callable[[], bool] = lambda: False) -> bytes | None:
        """The next line; None at EOF (the parent is gone), on ``give_up()`` or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if give_up() or time.monotonic() >= deadline:
                return None
            readable, _, _ = select.select([self.fd], [], [], 0.1)
            if readable:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


class Generator:
    """The parts every role shares: user classes, recording, the per-second clock."""

    def __init__(self, config: ChildConfig) -> None:
        self.config = config
        self.parent = os.getppid()
        profiles = [ProfileSpec.from_json(p) for p in config.profiles]
        self.buckets = Buckets(config.t0, named_profiles=bool(profiles))
        self.tracker = ConnTracker(self.buckets.count_conn)
        self.tracker.install()
        self.user_classes = profiled_classes(
            load_user_classes(config.journeys), profiles, self.tracker, weights=config.weights,
            think_time=config.think_time, request_timeout=config.request_timeout, host=config.host)
        self.env = Environment(user_classes=self.user_classes, host=config.host,
                               shape_class=make_shape(lambda: self.config) if config.role != "worker" else None)
        self.env.events.request.add_listener(self._on_request)
        self.open_loop: Any = None
        self.stopping = gevent.event.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self.stopping.set)
        self.cpu = CpuMeter()

    def _on_request(self, request_type: str, name: str, response_time: float | None, response_length: int,
                    response: Any = None, context: dict[str, Any] | None = None, exception: BaseException | None = None,
                    **_kw: Any) -> None:
        label = name if " " in name else f"{request_type} {name}"
        profile = (context or {}).get("fd_profile") or self.tracker.profile()
        ms = float(response_time or 0.0)
        if self.open_loop is not None:
            ms += self.open_loop.take_delay_ms()
        self.buckets.add(label, ms, classify_failure(exception, response) if exception else None, profile)

    def parent_gone(self) -> bool:
        return os.getppid() != self.parent

    def await_start(self, link: ParentLink) -> float | None:
        """Say ``prepared``; return the parent's run clock origin, or None if told to stop (SIGTERM,
        stdin closed, parent gone) first. No start within ``config.start_timeout``: RuntimeError."""
        emit({"type": "prepared", "pid": os.getpid(), "workers": self.config.workers})
        started, timeout = time.monotonic(), self.config.start_timeout
        line = link.read_line(timeout, give_up=lambda: self.stopping.is_set() or self.parent_gone())
        if line is None:
            if time.monotonic() - started >= timeout:
                raise RuntimeError(f"prepared, but no start came from the drill within {timeout:g}s")
            return None
        message = json.loads(line)
        if message.get("type") != "start":
            raise ValueError(f"expected a start message, got {line[:200]!r}")
        return float(message["t0"])

    def begin(self, t0: float) -> None:
        """Put this process on the parent's run clock: second 0 starts at ``t0``."""
        self.config = replace(self.config, t0=t0)
        self.buckets.t0 = t0
        # Everything built so far (Locust, the journeys, the users' classes) lives for the whole run:
        # out of the collector's way, a full collection during the load takes ~1 ms instead of ~30 ms
        # (a stall that sends a few dozen open-model arrivals late at once).
        gc.collect()
        gc.freeze()
        self.cpu = CpuMeter()

    def start_open_loop(self, index: int = 0, stride: int = 1) -> None:
        from faultdrill.load.openloop import OpenLoop

        c = self.config
        self.open_loop = OpenLoop(self.env, self.user_classes, c.segments, t0=c.t0, duration=c.duration,
                                  max_in_flight=c.max_in_flight, late_after=c.late_after,
                                  open_stats=self.buckets.open_stats, tracker=self.tracker,
                                  index=index, stride=stride, seed=c.seed)
        self.open_loop.start()

    def users(self, runner: Any) -> int:
        """Concurrent users: Locust's count (closed model), arrivals in flight (open model)."""
        return int(self.open_loop.in_flight if self.open_loop is not None else runner.user_count)

    def record(self, second: int, users: int) -> LoadSecond:
        c = self.config
        return self.buckets.pop(second, users, open_model=c.mode == "open", cpu_pct=self.cpu.sample(),
                                in_flight=self.open_loop.in_flight if self.open_loop else 0,
                                late_after=c.late_after)

    def should_stop(self, next_second: int) -> bool:
        now = time.monotonic()
        c = self.config
        return (self.stopping.is_set() or now >= c.hard_deadline or self.parent_gone()
                or (now >= c.t0 + c.duration and next_second >= int(c.duration)))

    def each_second(self, on_second: Callable[[int], None], extra_stop: Callable[[], bool] = lambda: False) -> int:
        """Call ``on_second(t)`` just after each second ends, until the run is over; returns the next t."""
        next_second = 0
        while True:
            now = time.monotonic()
            boundary = self.config.t0 + next_second + 1
            if now >= boundary + EMIT_AFTER_S:
                on_second(next_second)
                next_second += 1
                continue
            if self.should_stop(next_second) or extra_stop():
                return next_second
            self.stopping.wait(timeout=min(0.1, max(0.0, boundary + EMIT_AFTER_S - now)))

    def stop_load(self, runner: Any) -> None:
        if self.open_loop is not None:
            self.open_loop.stop()
        if runner is not None:
            runner.stop()  # stops users; each closes its connections (users.profiled_classes)
        gevent.sleep(0.05)

    def flush_lines(self, next_second: int, users: Callable[[], int], sink: Callable[[LoadSecond], None]) -> None:
        last = int(time.monotonic() - self.config.t0)
        for second in range(next_second, last + 1):
            sink(self.record(second, users()))


# -- roles ---------------------------------------------------------------------------
def run_local(config: ChildConfig, link: ParentLink) -> None:
    gen = Generator(config)
    runner = gen.env.create_local_runner()
    t0 = gen.await_start(link)
    if t0 is not None:
        gen.begin(t0)
        if config.mode == "open":
            gen.start_open_loop()
        else:
            runner.start_shape()
        emit({"type": "started", "pid": os.getpid()})
        next_second = gen.each_second(lambda t: emit(gen.record(t, gen.users(runner)).to_wire()))
        gen.stop_load(runner)
        gen.flush_lines(next_second, lambda: 0, lambda s: emit(s.to_wire()))
    runner.quit()
    emit({"type": "done"})


def run_worker(config: ChildConfig) -> None:
    gen = Generator(config)
    runner = gen.env.create_worker_runner("127.0.0.1", config.master_port)
    started = gevent.event.Event()

    def on_start(msg: Any, **_kw: Any) -> None:  # before any user is dispatched: messages arrive in order
        gen.begin(float(msg.data["t0"]))
        started.set()

    runner.register_message(START_MSG, on_start)
    wait_until = time.monotonic() + CONNECT_TIMEOUT_S + config.start_timeout + 10  # the master's waits, and some
    while not started.wait(timeout=0.1):
        if gen.stopping.is_set() or gen.parent_gone() or len(runner.greenlet) == 0 or time.monotonic() > wait_until:
            runner.quit()
            return
    if config.mode == "open":
        gen.start_open_loop(index=config.worker_index, stride=config.workers)

    def send(second: LoadSecond) -> None:
        runner.send_message(SECOND_MSG, {"worker": config.worker_index, "second": second.to_wire()})

    next_second = gen.each_second(lambda t: send(gen.record(t, gen.users(runner))),
                                  extra_stop=lambda: len(runner.greenlet) == 0)  # the master said quit
    gen.stop_load(runner)
    gen.flush_lines(next_second, lambda: 0, send)
    runner.send_message(DONE_MSG, {"worker": config.worker_index})
    gevent.sleep(0.2)  # let the messages leave before the socket closes
    runner.quit()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_master(config: ChildConfig, link: ParentLink) -> None:
    port = _free_port()
    procs: list[subprocess.Popen[str]] = []
    try:
        for index in range(config.workers):  # started first: they import Locust while the master does
            proc = subprocess.Popen([sys.executable, "-m", "faultdrill.load.child"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=None, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(config.for_worker(index, port).to_json()) + "\n")
            proc.stdin.close()
            procs.append(proc)
        _run_master(config, port, procs, link)
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
    emit({"type": "done"})


def _await_workers(gen: Generator, runner: Any, procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    workers = gen.config.workers
    while runner.worker_count < workers:
        dead = [p.args for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline or gen.stopping.is_set():
            raise RuntimeError(f"only {runner.worker_count} of {workers} load workers connected"
                               + (" (a worker exited; see the log above)" if dead else ""))
        gevent.sleep(0.05)


def _run_master(config: ChildConfig, port: int, procs: list[subprocess.Popen[str]], link: ParentLink) -> None:
    gen = Generator(config)
    runner = gen.env.create_master_runner(master_bind_host="127.0.0.1", master_bind_port=port)
    merger = Merger(config.workers, last_t=int(config.duration), late_after=config.late_after)

    def pump(final: bool = False) -> None:
        for second in merger.ready(time.monotonic() - gen.config.t0, final=final):
            emit(second.to_wire())

    def on_second_msg(msg: Any, **_kw: Any) -> None:
        merger.add(int(msg.data["worker"]), LoadSecond.from_wire(msg.data["second"]))
        if merger.started_t:
            pump()

    def on_done_msg(msg: Any, **_kw: Any) -> None:
        merger.done.add(int(msg.data["worker"]))

    runner.register_message(SECOND_MSG, on_second_msg)
    runner.register_message(DONE_MSG, on_done_msg)
    try:
        _await_workers(gen, runner, procs)
        t0 = gen.await_start(link)
        if t0 is None:
            return
        gen.begin(t0)
        runner.send_message(START_MSG, {"t0": t0})  # every worker on the same run clock
        if config.mode == "closed":
            runner.start_shape()
        emit({"type": "started", "pid": os.getpid(), "workers": config.workers})
        merger.started_t = max(time.monotonic() - t0, 1e-6)
        def all_exited() -> bool:
            return all(p.poll() is not None for p in procs)

        gen.each_second(lambda _t: pump(), extra_stop=all_exited)
        if config.mode == "closed":
            runner.stop()
        wait_until = min(time.monotonic() + 10, gen.config.hard_deadline)
        while len(merger.done) < config.workers and time.monotonic() < wait_until and not all_exited():
            pump()
            gevent.sleep(0.05)
        pump(final=True)
    finally:
        runner.quit()


def run(config: ChildConfig, link: ParentLink) -> None:
    if config.role == "worker":
        run_worker(config)
    elif config.distributed:
        run_master(config, link)
    else:
        run_local(config, link)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.stdout = sys.stderr  # stdout is the protocol's (``emit``); a journey's print() goes to the log
    link = ParentLink()
    line = link.read_line(timeout=30.0)
    try:
        config = ChildConfig.from_json(json.loads(line or b""))
    except (ValueError, KeyError, TypeError) as exc:
        emit({"type": "error", "message": f"bad child config: {exc}"})
        return 2
    try:
        run(config, link)
    except Exception as exc:
        logging.exception("load generator failed")
        if config.role != "worker":
            emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
