"""The load child's ``master`` role (``workers`` > 1 or remote workers): Locust's MasterRunner, the
local worker processes it starts, and its bookkeeping of every worker's seconds, clocks and losses.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else imports gevent or Locust

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402

from faultdrill.histograms import LoadSecond  # noqa: E402
from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.generator import (  # noqa: E402
    CONNECT_TIMEOUT_S,
    DONE_MSG,
    SECOND_MSG,
    START_MSG,
    Generator,
    ParentLink,
    emit,
)
from faultdrill.load.recording import Merger  # noqa: E402
from faultdrill.load.shape import planned_at  # noqa: E402

LOST_AFTER_S = 3.0  # a worker that sent no record for this long is lost (it sends one every second)


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
    gen.unhook_locust_stats()
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
