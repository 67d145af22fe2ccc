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

The shared parts are in ``generator.py``, the roles in ``master.py`` and ``worker.py``; this module
is the process's entry point (``python -m faultdrill.load.child``).

Every process stops by itself when the shape ends, on SIGTERM/SIGINT, when its parent dies (or
closes stdin before the start), when no start comes within ``start_timeout`` of being prepared,
or at its hard deadline (``ChildConfig.hard_deadline``) whatever happens.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else imports gevent or Locust

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from faultdrill.load.config import ChildConfig  # noqa: E402
from faultdrill.load.generator import Generator, ParentLink, emit  # noqa: E402
from faultdrill.load.master import run_master  # noqa: E402
from faultdrill.load.worker import run_worker  # noqa: E402


# -- roles: local here, ``worker.py`` and ``master.py`` -----------------------------------------
def run_local(config: ChildConfig, link: ParentLink) -> None:
    gen = Generator(config)
    runner = gen.env.create_local_runner()
    gen.unhook_locust_stats()
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
