"""The load child's ``worker`` role: Locust's WorkerRunner on the master's run clock.

Local workers are started by the master (``master.run_master``); remote ones by ``faultdrill worker``
(``remote_worker``), which measures the clock offset first (``ClockKeeper`` keeps measuring it).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else imports gevent or Locust

import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust.env import Environment  # noqa: E402

from faultdrill.histograms import LoadSecond  # noqa: E402
from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.generator import CONNECT_TIMEOUT_S, DONE_MSG, SECOND_MSG, START_MSG, Generator  # noqa: E402

CLOCK_EVERY_S = 5.0  # a worker measures its clock offset to the master this often during the run


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
    gen.unhook_locust_stats()
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
