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
from faultdrill.load.shape import closed_target, planned_at  # noqa: E402
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
        emit({"type": "prepared", "pid": os.getpid(), "workers": self.config.total_workers})
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
        out = self.buckets.pop(second, users, open_model=c.mode == "open", cpu_pct=self.cpu.sample(),
                               in_flight=self.open_loop.in_flight if self.open_loop else 0,
                               late_after=c.late_after)
        out.planned = planned_at(c.segments, second, c.duration, open_model=c.mode == "open")
        return out

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


CLOCK_EVERY_S = 5.0  # a worker measures its clock offset to the master this often during the run
LOST_AFTER_S = 3.0  # a worker that sent no record for this long is lost (it sends one every second)


def ticket_runner(env: Environment, host: str, port: int, ticket: str, extra: dict[str, Any] | None = None) -> Any:
    """Locust's WorkerRunner whose first message shows the master its ticket (``door.MasterDoor``)."""
    from locust.rpc import Message
    from locust.runners import WorkerRunner

    from faultdrill.load.join import AUTH_MSG

    class TicketWorkerRunner(WorkerRunner):
        def connect_to_master(self) -> None:
            auth = Message(AUTH_MSG, {**(extra or {}), "ticket": ticket}, self.client_id)
            self.client.send(auth)
            super().connect_to_master()  # type: ignore[no-untyped-call]

    return env._create_runner(TicketWorkerRunner, master_host=host, master_port=port)


class ClockKeeper:
    """A worker's running measure of its offset to the master's clock (NTP-style round trips over
    the Locust connection). The run's bins use the offset measured at join; these measures show
    whether it held."""

    def __init__(self, join: Any) -> None:
        self.join = join  # join.ClockEstimate (None for local workers: one host, one clock)
        self.samples: list[Any] = []
        self.rounds = 0  # round trips answered so far: the master counts a measure once, not once a second

    def register(self, runner: Any) -> None:
        from faultdrill.load.join import CLOCK_MSG, ClockSample

        def on_clock(msg: Any, **_kw: Any) -> None:
            t1, t2 = msg.data.get("t1"), msg.data.get("t2")
            if isinstance(t1, (int, float)) and isinstance(t2, (int, float)):
                self.samples = [*self.samples[-7:], ClockSample(float(t1), float(t2), time.monotonic())]
                self.rounds += 1

        runner.register_message(CLOCK_MSG, on_clock)

        def ping() -> None:
            while True:
                gevent.sleep(CLOCK_EVERY_S)
                runner.send_message(CLOCK_MSG, {"t1": time.monotonic()})

        runner.greenlet.spawn(ping)

    def report(self) -> dict[str, Any] | None:
        from faultdrill.load.join import ClockEstimate

        if not self.samples:
            return None
        return {**ClockEstimate.best(self.samples).to_json(), "rounds": self.rounds}


def run_worker(config: ChildConfig, offset: float = 0.0, clock: ClockKeeper | None = None) -> None:
    """A worker process. ``offset`` is the master's clock minus ours (0 on the master's own host): its
    seconds are binned on the master's run clock, whatever this host's clock says."""
    gen = Generator(config)
    join_clock = clock.join.to_json() if clock is not None and clock.join is not None else None
    runner = ticket_runner(gen.env, config.master_host, config.master_port, config.ticket,
                           {"clock": join_clock} if join_clock else None)
    started = gevent.event.Event()

    def on_start(msg: Any, **_kw: Any) -> None:  # before any user is dispatched: messages arrive in order
        gen.begin(float(msg.data["t0"]) - offset)
        started.set()

    runner.register_message(START_MSG, on_start)
    if clock is not None:
        clock.register(runner)
    wait_until = (time.monotonic() + max(CONNECT_TIMEOUT_S, config.remote_wait) + config.start_timeout
                  + 10)  # the master's waits, and some
    while not started.wait(timeout=0.1):
        if gen.stopping.is_set() or gen.parent_gone() or len(runner.greenlet) == 0 or time.monotonic() > wait_until:
            runner.quit()
            return
    if config.mode == "open":
        gen.start_open_loop(index=config.worker_index, stride=config.total_workers)

    def send(second: LoadSecond) -> None:
        data: dict[str, Any] = {"worker": config.worker_index, "second": second.to_wire()}
        report = clock.report() if clock is not None else None
        if report is not None:
            data["clock"] = report
        runner.send_message(SECOND_MSG, data)

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
    from faultdrill.load.join import Roster

    port = config.listen_port or _free_port()
    roster = Roster(config.workers, config.remote_workers, config.token)
    procs: list[subprocess.Popen[str]] = []
    try:
        for index in range(config.workers):  # started first: they import Locust while the master does
            proc = subprocess.Popen([sys.executable, "-m", "faultdrill.load.child"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=None, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
            assert proc.stdin is not None
            worker = config.for_worker(index, port, ticket=roster.entries[index].ticket)
            proc.stdin.write(json.dumps(worker.to_json()) + "\n")
            proc.stdin.close()
            procs.append(proc)
        _run_master(config, port, procs, link, roster)
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
        emit({"type": "workers", "workers": roster.describe()})
    emit({"type": "done"})


def _await_workers(gen: Generator, runner: Any, procs: list[subprocess.Popen[str]], roster: Any) -> None:
    c = gen.config
    # local workers get the time a process takes to start; remote ones the scenario's wait, no more
    deadline = time.monotonic() + max(CONNECT_TIMEOUT_S if c.workers or not c.remote_workers else 0.0,
                                      c.remote_wait if c.remote_workers else 0.0)
    workers = c.total_workers
    while len(roster.admitted) < workers or runner.worker_count < workers:
        dead = [p.args for p in procs if p.poll() is not None]
        if roster.refusals:
            raise RuntimeError(f"a load worker was refused or refused to take part: {roster.refusals[0]}")
        if dead or time.monotonic() > deadline or gen.stopping.is_set():
            joined = sum(1 for e in roster.entries.values() if e.remote and e.client_id)
            remote = (f"; {joined} of {c.remote_workers} remote workers joined within {c.remote_wait:g}s "
                      f"(start each with: faultdrill worker --master {_reachable(c)}:{c.listen_port} --token TOKEN)"
                      if c.remote_workers else "")
            away = f"; turned away: {'; '.join(roster.turned_away[:3])}" if roster.turned_away else ""
            raise RuntimeError(f"only {runner.worker_count} of {workers} load workers connected"
                               + (" (a worker exited; see the log above)" if dead else "") + remote + away)
        gevent.sleep(0.05)


def _reachable(c: ChildConfig) -> str:
    return socket.gethostname() if c.listen_host in ("0.0.0.0", "*", "::") else c.listen_host


def _welcome(config: ChildConfig, port: int) -> Callable[[Any], dict[str, Any]]:
    from faultdrill.load.join import pack_journeys

    journeys = pack_journeys(config.journeys)

    def welcome(entry: Any) -> dict[str, Any]:
        worker = config.for_worker(entry.index, port, ticket=entry.ticket)
        return {"config": worker.to_json(), "journeys": journeys, "ticket": entry.ticket, "index": entry.index}

    return welcome


class MasterBook:
    """The master's bookkeeping of its workers during the run: their records merged, their clocks noted,
    the silent or exited ones declared lost (each a protocol line to the parent)."""

    def __init__(self, gen: Generator, roster: Any, procs: list[subprocess.Popen[str]]) -> None:
        c = gen.config
        self.gen, self.roster, self.procs = gen, roster, procs
        self.merger = Merger(c.total_workers, last_t=int(c.duration), late_after=c.late_after)

    def joined(self, entry: Any) -> None:
        emit({"type": "worker", "event": "joined", "worker": entry.index, "host": entry.host,
              "remote": entry.remote, "clock": entry.clock.to_json() if entry.clock else None})

    def start(self, t0: float) -> None:
        self.merger.started_t = max(time.monotonic() - t0, 1e-6)
        now = time.monotonic()
        for entry in self.roster.entries.values():
            entry.last_seen = now  # silence is counted from the start

    def lose(self, index: int, why: str) -> None:
        entry = self.roster.mark_lost(index, time.monotonic() - self.gen.config.t0, why)
        if entry is not None:
            self.merger.done.add(index)  # no second waits for it any more
            emit({"type": "worker", "event": "lost", "worker": index, "host": entry.host, "remote": entry.remote,
                  "t": round(entry.lost_at, 3), "why": why})

    def watch(self) -> None:
        for index, proc in enumerate(self.procs):
            code = proc.poll()
            if code is not None and not self.roster.entries[index].done:
                self.lose(index, f"its process exited (code {code}) before the drill ended")
        for entry in self.roster.overdue(time.monotonic(), LOST_AFTER_S):
            self.lose(entry.index, f"no record from it for {LOST_AFTER_S:g}s")

    def pump(self, final: bool = False) -> None:
        c = self.gen.config
        if not final and time.monotonic() < c.t0 + c.duration:  # losses count during the run
            self.watch()
        for second in self.merger.ready(time.monotonic() - c.t0, final=final):
            second.planned = planned_at(c.segments, second.t, c.duration, open_model=c.mode == "open")
            emit(second.to_wire())

    def on_second(self, msg: Any, **_kw: Any) -> None:
        from faultdrill.load.join import ClockEstimate

        index = int(msg.data["worker"])
        self.roster.seen(index, time.monotonic())
        clock = msg.data.get("clock")
        entry = self.roster.entries.get(index)
        if clock and entry is not None and clock.get("rounds") != entry.clock_rounds:  # a new measure
            entry.clock_rounds = clock.get("rounds")
            measured = ClockEstimate.from_json(clock)
            entry.drift.append(measured.offset)
            entry.worst_uncertainty = max(entry.worst_uncertainty, measured.uncertainty)
        self.merger.add(index, LoadSecond.from_wire(msg.data["second"]))
        if self.merger.started_t:
            self.pump()

    def on_done(self, msg: Any, **_kw: Any) -> None:
        index = int(msg.data["worker"])
        self.merger.done.add(index)
        if index in self.roster.entries:
            self.roster.entries[index].done = True

    def no_worker_left(self) -> bool:
        return all(e.done or e.lost_at is not None for e in self.roster.entries.values())


def _run_master(config: ChildConfig, port: int, procs: list[subprocess.Popen[str]], link: ParentLink,
                roster: Any) -> None:
    from faultdrill.load.door import MasterDoor

    gen = Generator(config)
    runner = gen.env.create_master_runner(master_bind_host=config.listen_host, master_bind_port=port)
    book = MasterBook(gen, roster, procs)
    MasterDoor(runner, roster, _welcome(config, port), started=lambda: book.merger.started_t > 0,
               on_joined=book.joined)
    runner.register_message(SECOND_MSG, book.on_second)
    runner.register_message(DONE_MSG, book.on_done)
    try:
        _await_workers(gen, runner, procs, roster)
        t0 = gen.await_start(link)
        if t0 is None:
            return
        gen.begin(t0)
        runner.send_message(START_MSG, {"t0": t0})  # every worker on the same run clock
        if config.mode == "closed":
            runner.start_shape()
        emit({"type": "started", "pid": os.getpid(), "workers": config.total_workers})
        book.start(t0)
        gen.each_second(lambda _t: book.pump(), extra_stop=book.no_worker_left)
        if config.mode == "closed":
            runner.stop()
        wait_until = min(time.monotonic() + 10, gen.config.hard_deadline)
        while not book.no_worker_left() and time.monotonic() < wait_until:
            book.pump()
            gevent.sleep(0.05)
        book.pump(final=True)
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
